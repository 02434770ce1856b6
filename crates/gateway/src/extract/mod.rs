//! Extractors, one module a job: [`body`] for what the request carries (JSON, query,
//! path), [`caller`] for who sends it.

pub mod body;
pub mod caller;

pub use body::{AppJson, AppPath, AppQuery, OptionalJson};
pub use caller::{Caller, ClientAddress, cookie, same_secret};
