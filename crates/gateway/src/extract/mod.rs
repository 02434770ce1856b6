//! Extractors, one module a job: [`body`] for what the request carries (JSON, query,
//! path), [`caller`] for who sends it.

pub(crate) mod body;
pub(crate) mod caller;

pub(crate) use body::{AppJson, AppPath, AppQuery, OptionalJson};
pub(crate) use caller::{Caller, ClientAddress, cookie, same_secret};
