//! The caching web proxy: `cargo run --bin web-proxy` listens on port 12000
//! (`-- --port 8888` for the handout's) and keeps its cache in `./cache`.
//!
//! This program creates the listening socket and hands it to `serve` in
//! `src/lib.rs`, where your code goes, with the cache folder beside the
//! folder it runs in. There is nothing to change here.

use std::net::TcpListener;
use std::process::ExitCode;

// The command line every lab program shares (a server uses only part of it).
#[allow(dead_code)]
mod common;

use common::program;

use web_proxy_lab::serve;

const PROGRAM: &str = "web-proxy";

fn main() -> ExitCode {
    program::run_server(PROGRAM, TcpListener::bind, |listener| {
        // The handout's proxy keeps its cache in the folder it runs in.
        serve(listener, std::env::current_dir()?.join("cache"))
    })
}
