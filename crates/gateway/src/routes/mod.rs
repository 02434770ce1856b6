//! HTTP routes, one module a role.

pub mod admin;
pub mod auditor;
pub mod auth;
pub mod client;
pub mod professional;
pub mod public;
