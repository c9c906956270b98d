//! The udp-count-s server: `cargo run --bin udp-count-s-server`, with
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

use udp_count_s_lab::serve;

const PROGRAM: &str = "udp-count-s-server";

fn main() -> ExitCode {
    // `serverSocket = socket(AF_INET, SOCK_DGRAM)` and
    // `serverSocket.bind(('', serverPort))`: `UdpSocket::bind` does both.
    program::run_server(PROGRAM, UdpSocket::bind, serve)
}
