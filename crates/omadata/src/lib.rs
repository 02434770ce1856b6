//! The `omadata` command line. This crate only wires the domain crates together.
//!
//! - [`cli`]: subcommands: `keys` (generate master and signing keys, publish the JWKS,
//!   rotate the master key), `receipt verify`, `audit verify` and `audit export`.
//!
//! The gateway's `serve` and `demo` join these with issue 4.

pub mod cli;
