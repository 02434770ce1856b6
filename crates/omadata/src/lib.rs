//! The `omadata` command line. This crate only wires the domain crates together.
//!
//! - [`cli`]: subcommands: `keys` (generate master and signing keys, publish the JWKS,
//!   rotate the master key), `receipt verify`, `audit verify` and `audit export`,
//!   `backup` and `restore`.
//! - [`server`]: opens the stores and keys, wires the gateway, serves (`serve`, `demo`).
//! - [`control`]: the operator's control socket (a backup of the live store).

pub mod cli;
pub mod control;
pub mod server;
