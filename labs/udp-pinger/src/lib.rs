//! # Lab: the UDP pinger
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, chapter 2,
//! socket programming assignment "UDP Pinger". The assignment gives the
//! server, `UDPPingerServer.py`, which echoes every ping in capitals and
//! loses some on purpose; students write `UDPPingerClient.py`. Here you
//! write the client in Rust, with the same socket calls from `std::net`.
//!
//! - [`run_client`]: send `count` pings, `Ping <sequence number> <time>`,
//!   one after another; wait at most `timeout` for each reply; print the
//!   reply and its round-trip time (RTT) in seconds, or `Request timed out`.
//!
//! The program in `src/bin/` reads `--host` and `--port` and calls
//! [`run_client`] with ten pings and a one-second timeout. The handout,
//! `README.md`, has the protocol, how to run the client against a lossy
//! server by hand, and hints.
//!
//! Replace the `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what the
//! grader's server did with each ping and what your client printed.

use std::io::{self, Write};
use std::time::Duration;

/// The assignment's port.
pub const DEFAULT_PORT: u16 = 12000;

/// How many pings the client sends.
pub const PINGS: u32 = 10;

/// How long the client waits for each reply: the assignment's one second.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends `count` pings to `host:port`, each waiting at most `timeout` for
/// its reply, and prints one line per ping to `output`.
///
/// A line for an answered ping shows the reply (the server sends the ping
/// back in capitals, `PING 3 1733097600.123456`) and the RTT in seconds:
/// `Reply from 127.0.0.1:12000: PING 3 1733097600.123456  RTT: 0.000123 s`.
/// A lost ping's line is `Request timed out`. Return an error only when the
/// socket itself fails: a lost ping is not an error.
pub fn run_client(
    host: &str,
    port: u16,
    count: u32,
    timeout: Duration,
    output: &mut dyn Write,
) -> io::Result<()> {
    // TODO: Find the server's address: `(host, port).to_socket_addrs()?`
    //       (from std::net::ToSocketAddrs), and take the first one.
    // TODO: Bind ONE `UdpSocket` to "0.0.0.0:0" (any free port), before the
    //       loop, as `clientSocket = socket(AF_INET, SOCK_DGRAM)` does; every
    //       ping goes from it.
    // TODO: For each sequence number from 1 to `count`:
    //       - note `Instant::now()`, and send one datagram
    //         `Ping <sequence> <time>` with `send_to`; the time is
    //         `SystemTime::now().duration_since(UNIX_EPOCH)` in seconds,
    //         printed with decimals (`{:.6}` of `as_secs_f64()`);
    //       - wait for the reply with `set_read_timeout` and `recv_from`, at
    //         most `timeout` after the send. A reply whose sequence number is
    //         not this ping's is a late reply to an earlier ping: skip it and
    //         keep waiting for what is left of the timeout;
    //       - print the reply and its RTT (`elapsed()` of the Instant, as
    //         `as_secs_f64()` seconds), or `Request timed out` when the wait
    //         ends with `ErrorKind::WouldBlock` or `ErrorKind::TimedOut`.
    // TODO (optional): after the last ping, print a summary: the lowest,
    //       mean and highest RTT, and the share of pings lost, in percent.
    let _ = (host, port, count, timeout, output);
    todo!(
        "send the pings, wait at most a second for each reply, print each reply with its RTT or `Request timed out`"
    )
}
