//! OmaData consent: access requests, scoped grants, revocation, signed receipts and the
//! tamper-evident audit log. Not built yet (issue 3); the crate holds its place in the
//! workspace so that the dependency graph is fixed from the start.
