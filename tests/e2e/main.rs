//! OmaData end-to-end tests, all in this one binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod auditor_views;
mod authorization_matrix;
mod backup;
mod cli;
mod client_pages;
mod client_pages_account;
mod client_pages_grants;
mod client_pages_requests;
mod crash;
mod cross_site;
mod data_at_rest;
mod gateway;
mod gateway_crash;
mod logs;
mod network;
mod pages;
mod postgres_store;
mod power_cut;
mod problem_responses;
mod professional_views;
mod resource_limits;
mod sealed_consent_text;
mod sessions_and_staff;
mod third_party_provider;
