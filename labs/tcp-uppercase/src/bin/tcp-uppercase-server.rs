//! The tcp-uppercase server: `cargo run --bin tcp-uppercase-server`, with
//! `-- --port P` to listen on another port than 12000.
//!
//! This program creates the listening socket and hands it to `serve` in `src/lib.rs`,
//! where your code goes. There is nothing to change here.

use std::net::TcpListener;
use std::process::ExitCode;

use lab_common::program;

// For instructors: `--features reference` runs the reference solution instead
// of the code in `src/lib.rs` (see the handout's instructor note).
#[cfg(feature = "reference")]
use socklab::tcp_uppercase::serve;
#[cfg(not(feature = "reference"))]
use tcp_uppercase_lab::serve;

const PROGRAM: &str = "tcp-uppercase-server";

fn main() -> ExitCode {
    // `serverSocket = socket(AF_INET, SOCK_STREAM)`,
    // `serverSocket.bind(('', serverPort))` and `serverSocket.listen(1)`:
    // `TcpListener::bind` does all three.
    program::run_server(PROGRAM, TcpListener::bind, serve)
}
