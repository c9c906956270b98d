//! The pinger: `cargo run --bin udp-pinger-client` sends ten pings to
//! 127.0.0.1:12000, with `-- --host H --port P` to ping another server.
//!
//! This program hands the server's address and standard output to
//! `run_client` in `src/lib.rs`, where your code goes, and turns an error
//! into a message and a failure status. There is nothing to change here.

use std::process::ExitCode;

// The command line every lab program shares (a client uses only part of it).
#[allow(dead_code)]
mod common;

use common::program;

use udp_pinger_lab::{PINGS, REPLY_TIMEOUT, run_client};

const PROGRAM: &str = "udp-pinger-client";

fn main() -> ExitCode {
    // The pinger reads nothing: it makes up its own pings.
    program::run_client(PROGRAM, |host, port, _input, output| {
        run_client(host, port, PINGS, REPLY_TIMEOUT, output)
    })
}
