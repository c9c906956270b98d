//! The udp-uppercase server: `cargo run --bin udp-uppercase-server`, with
//! `-- --port P` to listen on another port than 12000.
//!
//! This program binds the socket and hands it to `serve` in `src/lib.rs`,
//! where your code goes. There is nothing to change here.

use std::net::UdpSocket;
use std::process::ExitCode;

// The command line every lab program shares (a server uses only part of it).
#[allow(dead_code)]
mod common;

use common::program;

use udp_uppercase_lab::serve;

const PROGRAM: &str = "udp-uppercase-server";

fn main() -> ExitCode {
    // `serverSocket = socket(AF_INET, SOCK_DGRAM)` and
    // `serverSocket.bind(('', serverPort))`: `UdpSocket::bind` does both.
    program::run_server(PROGRAM, UdpSocket::bind, serve)
}
