//! The `omadata` command line. This crate only wires the domain crates together.
//!
//! - [`cli`]: parses the command line and runs each subcommand, one module per group:
//!   `serve` and `demo`; `register` (organisations, staff); `keys` (master and signing keys,
//!   the JWKS, master-key rotation); `receipt verify`, `audit verify` and `audit export`;
//!   `backup` and `restore`.
//! - [`server`]: opens the stores and keys, wires the gateway, serves (`serve`, `demo`).
//! - [`control`]: the operator's control socket (a backup of the live store).

pub mod cli;
pub mod control;
pub mod server;
