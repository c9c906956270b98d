//! Reference implementations of the socklab labs, written to be read beside
//! section 2.7 of Kurose & Ross, *Computer Networking: A Top-Down Approach*.
//!
//! Each lab has its own module holding its server and its client, in blocking
//! `std::net` so that every call lines up with the textbook's Python:
//! `socket()`, `bind()`, `recvfrom()`, `sendto()`, `accept()`. The pure part of
//! each lab, what a server does to the bytes it receives, lives in [`transform`]
//! so the grader can compute expected replies with exactly the same code.
//!
//! The chapter 2 assignments speak real protocols; their rules live in their
//! own pure modules ([`http`] for the web server) for the same reason.

use std::io::{self, BufRead, Write};
use std::net::IpAddr;

mod client_setup;
pub mod http;
pub mod http_response;
pub mod smtp;
pub mod smtp_client;
pub mod tcp_lines;
pub mod tcp_uppercase;
pub mod transform;
pub mod udp_count_s;
pub mod udp_pinger;
pub mod udp_uppercase;
pub mod web_client;
pub mod web_proxy;
pub mod web_server;

/// The port every textbook program uses.
pub const DEFAULT_PORT: u16 = 12000;

/// The labs socklab knows. Labs are named, never numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lab {
    UdpUppercase,
    TcpUppercase,
    UdpCountS,
    TcpLines,
    WebServer,
    UdpPinger,
    SmtpClient,
    WebProxy,
}

impl Lab {
    pub const ALL: [Lab; 8] = [
        Lab::UdpUppercase,
        Lab::TcpUppercase,
        Lab::UdpCountS,
        Lab::TcpLines,
        Lab::WebServer,
        Lab::UdpPinger,
        Lab::SmtpClient,
        Lab::WebProxy,
    ];

    /// The lab's name as it appears on the command line and in lab files.
    pub fn name(self) -> &'static str {
        match self {
            Lab::UdpUppercase => "udp-uppercase",
            Lab::TcpUppercase => "tcp-uppercase",
            Lab::UdpCountS => "udp-count-s",
            Lab::TcpLines => "tcp-lines",
            Lab::WebServer => "web-server",
            Lab::UdpPinger => "udp-pinger",
            Lab::SmtpClient => "smtp-client",
            Lab::WebProxy => "web-proxy",
        }
    }

    /// The port the lab's handout uses: the textbook's 12000, or the web
    /// server assignment's 6789 (where students may choose their own).
    pub fn default_port(self) -> u16 {
        match self {
            Lab::UdpUppercase
            | Lab::TcpUppercase
            | Lab::UdpCountS
            | Lab::TcpLines
            | Lab::UdpPinger => DEFAULT_PORT,
            Lab::WebServer => web_server::DEFAULT_PORT,
            Lab::SmtpClient => smtp_client::DEFAULT_PORT,
            Lab::WebProxy => web_proxy::DEFAULT_PORT,
        }
    }

    pub fn from_name(name: &str) -> Option<Lab> {
        Lab::ALL.into_iter().find(|lab| lab.name() == name)
    }
}

/// Binds the lab's server to `bind:port` and serves forever. The web server
/// serves the files of the working directory, as the handout's does; the
/// pinger's server loses pings as the assignment's does, from seed 0; the
/// mail client's server is a sink that prints every mail it receives; the
/// proxy caches in `cache/` under the working directory.
pub fn serve(lab: Lab, bind: IpAddr, port: u16) -> io::Result<()> {
    match lab {
        Lab::UdpUppercase => udp_uppercase::serve(std::net::UdpSocket::bind((bind, port))?),
        Lab::UdpCountS => udp_count_s::serve(std::net::UdpSocket::bind((bind, port))?),
        Lab::TcpUppercase => tcp_uppercase::serve(std::net::TcpListener::bind((bind, port))?),
        Lab::TcpLines => tcp_lines::serve(std::net::TcpListener::bind((bind, port))?),
        Lab::WebServer => web_server::serve(
            std::net::TcpListener::bind((bind, port))?,
            std::env::current_dir()?,
        ),
        Lab::UdpPinger => udp_pinger::serve(
            std::net::UdpSocket::bind((bind, port))?,
            udp_pinger::LossPlan {
                seed: 0,
                loss: udp_pinger::HANDOUT_LOSS,
                max_delay: std::time::Duration::ZERO,
            },
        ),
        Lab::SmtpClient => smtp_client::serve_sink(
            std::net::TcpListener::bind((bind, port))?,
            std::sync::Arc::new(std::sync::Mutex::new(io::stdout())),
        ),
        Lab::WebProxy => web_proxy::serve(
            std::net::TcpListener::bind((bind, port))?,
            std::env::current_dir()?.join("cache"),
        ),
    }
}

/// Runs the lab's client against `host:port`, reading the user's input from
/// `input` and printing what the server answered to `output`. The web
/// server's client fetches the path on the first line of `input` (`/` when
/// there is none); the command line passes it as an argument instead. The
/// pinger's client reads nothing: it sends its ten pings. The mail client
/// sends what `input` holds from alice@example.org to bob@example.org. The
/// proxy has no client of its own: a browser, or the web server's client,
/// is one (this fetches the path on the first line of `input` through it).
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
        Lab::WebServer | Lab::WebProxy => {
            let mut target = String::new();
            input.read_line(&mut target)?;
            let target = match target.trim() {
                "" => "/",
                path => path,
            };
            web_client::run_client(host, port, target, output)
        }
        Lab::UdpPinger => udp_pinger::run_client(
            host,
            port,
            udp_pinger::PINGS,
            udp_pinger::REPLY_TIMEOUT,
            output,
        ),
        Lab::SmtpClient => smtp_client::run_client(
            host,
            port,
            "alice@example.org",
            "bob@example.org",
            input,
            output,
        ),
    }
}
