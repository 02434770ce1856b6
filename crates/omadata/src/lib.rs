//! The `omadata` command line. This crate only wires the domain crates together.
//!
//! - [`cli`]: subcommands: `keys` (generate master and signing keys, publish the JWKS,
//!   rotate the master key), `receipt verify`, `audit verify` and `audit export`.
//! - [`server`]: opens the stores and keys, wires the gateway, serves (`serve`, `demo`).

pub mod cli;
pub mod server;
