//! Tests of the reference servers and clients: in-process servers talked to
//! with plain std sockets, the `socklab` binary end to end, and the textbook's
//! Python programs against the reference.
//!
//! Everything is one test binary so that `cargo test` links once. No test uses
//! a fixed port (servers bind port 0, or a port the test found free) and no
//! test sleeps to wait for something: tests wait for events (a reply, a line
//! on a pipe, a socket appearing in `/proc/net`) with deadlines.

#[path = "reference/support.rs"]
mod support;

#[path = "reference/udp.rs"]
mod udp;

#[path = "reference/tcp_uppercase.rs"]
mod tcp_uppercase;

#[path = "reference/tcp_lines.rs"]
mod tcp_lines;

#[path = "reference/web_server.rs"]
mod web_server;

#[path = "reference/chapter2.rs"]
mod chapter2;

// The end-to-end tests find sockets through Linux's `/proc/net`.
#[cfg(target_os = "linux")]
#[path = "reference/cli.rs"]
mod cli;

#[cfg(target_os = "linux")]
#[path = "reference/python.rs"]
mod python;
