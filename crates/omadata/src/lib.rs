//! The `omadata` command line. This crate only wires the domain crates together.
//!
//! - [`cli`]: parses the command line and runs each subcommand, one module per group:
//!   `serve` and `demo`; `register` (organisations, staff); `keys` (master and signing keys,
//!   the JWKS, master-key rotation); `receipt verify`, `audit verify` and `audit export`;
//!   `backup` and `restore`.
//! - [`server`]: opens the stores and keys, wires the gateway, serves (`serve`, `demo`).
//! - [`store`]: which store a command opens (sled in the data directory, or PostgreSQL).
//! - [`control`]: the operator's control socket (a backup of the live sled store).

pub mod cli;
pub mod control;
pub mod server;
pub mod store;
