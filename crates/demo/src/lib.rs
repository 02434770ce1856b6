//! OmaData's demo: what `omadata demo` and the end-to-end tests add to a gateway, and
//! what a production gateway (`omadata serve`) never contains.
//!
//! Map of the crate:
//! - [`test_idp`]: the built-in test identity provider, a router with its own state
//!   (its key and the codes it issued) that the gateway mounts beside its own routes;
//!   its test persons ([`TEST_PERSONS`]).
//! - [`seed`]: demo organisation, staff and clients for every test person.

pub mod seed;
pub mod test_idp;

pub use seed::{DemoError, seed};
pub use test_idp::{TEST_PERSONS, TestIdp, TestPerson};
