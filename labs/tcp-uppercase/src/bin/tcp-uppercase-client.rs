//! The tcp-uppercase client: `echo hello | cargo run --bin tcp-uppercase-client`,
//! with `-- --host H --port P` to reach another server than 127.0.0.1:12000.
//!
//! This program hands standard input and standard output to `run_client` in
//! `src/lib.rs`, where your code goes, and turns an error into a message and a
//! failure status. There is nothing to change here.

use std::process::ExitCode;

// The command line every lab program shares (a server uses only part of it).
#[allow(dead_code)]
mod common;

use common::program;

use tcp_uppercase_lab::run_client;

const PROGRAM: &str = "tcp-uppercase-client";

fn main() -> ExitCode {
    program::run_client(PROGRAM, run_client)
}
