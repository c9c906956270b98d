//! The web server: `cargo run --bin web-server` serves the files of the
//! folder you run it in, on port 12000 (`-- --port 6789` for the handout's).
//!
//! This program creates the listening socket and hands it to `serve` in
//! `src/lib.rs`, where your code goes, with the working directory as the
//! folder to serve. There is nothing to change here.

use std::net::TcpListener;
use std::process::ExitCode;

// The command line every lab program shares (a server uses only part of it).
#[allow(dead_code)]
mod common;

use common::program;

use web_server_lab::serve;

const PROGRAM: &str = "web-server";

fn main() -> ExitCode {
    program::run_server(PROGRAM, TcpListener::bind, |listener| {
        // The handout's server serves the folder it runs in.
        serve(listener, std::env::current_dir()?)
    })
}
