//! The grader's integration tests, in one test binary so `cargo test` builds
//! and links it once. Each module holds one concern; `support` has the
//! helpers they share.

mod support;

mod adversarial;
mod assign;
mod batch;
mod cell_sockets;
mod cli;
mod files;
mod formats;
mod hard_coded;
mod html;
mod http_clients;
mod lab_fuzz;
pub mod labs;
mod languages;
mod outputs;
mod pinger;
mod prepared;
mod resume;
mod samples;
mod sandbox;
mod smtp_clients;
mod web_proxy;
