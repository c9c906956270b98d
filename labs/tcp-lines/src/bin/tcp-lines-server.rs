//! The tcp-lines server: `cargo run --bin tcp-lines-server`, with
//! `-- --port P` to listen on another port than 12000.
//!
//! This program creates the listening socket and hands it to `serve` in `src/lib.rs`,
//! where your code goes. There is nothing to change here.

use std::net::TcpListener;
use std::process::ExitCode;

// The command line every lab program shares (a server uses only part of it).
#[allow(dead_code)]
mod common;

use common::program;

use tcp_lines_lab::serve;

const PROGRAM: &str = "tcp-lines-server";

fn main() -> ExitCode {
    // `serverSocket = socket(AF_INET, SOCK_STREAM)`,
    // `serverSocket.bind(('', serverPort))` and `serverSocket.listen(1)`:
    // `TcpListener::bind` does all three.
    program::run_server(PROGRAM, TcpListener::bind, serve)
}
