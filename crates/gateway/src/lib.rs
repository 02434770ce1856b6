//! OmaData gateway: login over OpenID Connect, roles, the JSON API and the web pages.
//! Not built yet (issue 4); the crate holds its place in the workspace.
