//! Reference implementations of the socklab labs, written to be read beside
//! section 2.7 of Kurose & Ross, *Computer Networking: A Top-Down Approach*.
//!
//! Each lab has its own module holding its server and its client, in blocking
//! `std::net` so that every call lines up with the textbook's Python:
//! `socket()`, `bind()`, `recvfrom()`, `sendto()`, `accept()`. The pure part of
//! each lab, what a server does to the bytes it receives, lives in [`transform`]
//! so the grader can compute expected replies with exactly the same code.

use std::io::{self, BufRead, Write};
use std::net::IpAddr;

mod client_setup;
pub mod tcp_lines;
pub mod tcp_uppercase;
pub mod transform;
pub mod udp_count_s;
pub mod udp_uppercase;

/// The port every textbook program uses.
pub const DEFAULT_PORT: u16 = 12000;

/// The labs socklab knows. Labs are named, never numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lab {
    UdpUppercase,
    TcpUppercase,
    UdpCountS,
    TcpLines,
}

impl Lab {
    pub const ALL: [Lab; 4] = [
        Lab::UdpUppercase,
        Lab::TcpUppercase,
        Lab::UdpCountS,
        Lab::TcpLines,
    ];

    /// The lab's name as it appears on the command line and in lab files.
    pub fn name(self) -> &'static str {
        match self {
            Lab::UdpUppercase => "udp-uppercase",
            Lab::TcpUppercase => "tcp-uppercase",
            Lab::UdpCountS => "udp-count-s",
            Lab::TcpLines => "tcp-lines",
        }
    }

    pub fn from_name(name: &str) -> Option<Lab> {
        Lab::ALL.into_iter().find(|lab| lab.name() == name)
    }
}

/// Binds the lab's server to `bind:port` and serves forever.
pub fn serve(lab: Lab, bind: IpAddr, port: u16) -> io::Result<()> {
    match lab {
        Lab::UdpUppercase => udp_uppercase::serve(std::net::UdpSocket::bind((bind, port))?),
        Lab::UdpCountS => udp_count_s::serve(std::net::UdpSocket::bind((bind, port))?),
        Lab::TcpUppercase => tcp_uppercase::serve(std::net::TcpListener::bind((bind, port))?),
        Lab::TcpLines => tcp_lines::serve(std::net::TcpListener::bind((bind, port))?),
    }
}

/// Runs the lab's client against `host:port`, reading the user's input from
/// `input` and printing what the server answered to `output`.
pub fn run_client(
    lab: Lab,
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    match lab {
        Lab::UdpUppercase => udp_uppercase::run_client(host, port, input, output),
        Lab::TcpUppercase => tcp_uppercase::run_client(host, port, input, output),
        Lab::TcpLines => tcp_lines::run_client(host, port, input, output),
        Lab::UdpCountS => udp_count_s::run_client(host, port, input, output),
    }
}
