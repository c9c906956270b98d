//! The `socklab` binary end to end: real server processes, real client
//! processes, standard input and output as a user would use them.

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::support::{Protocol, free_port, read_to_close, spawn_socklab_server, tcp_connect};

/// `socklab client <lab> --port <port>` with a time limit, so that a client
/// that hangs fails the test instead of stalling it.
fn socklab_client(lab: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_socklab"));
    command
        .args([
            "client",
            lab,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .timeout(Duration::from_secs(20));
    command
}

#[test]
fn udp_uppercase_end_to_end() {
    let (_server, address) = spawn_socklab_server("udp-uppercase");
    socklab_client("udp-uppercase", address.port())
        .write_stdin("hello straße\n")
        .assert()
        .success()
        .stdout("Input lowercase sentence:HELLO STRASSE\n");
}

#[test]
fn tcp_uppercase_end_to_end() {
    let (_server, address) = spawn_socklab_server("tcp-uppercase");
    socklab_client("tcp-uppercase", address.port())
        .write_stdin("hello straße\n")
        .assert()
        .success()
        .stdout(contains("From Server: HELLO STRASSE"));
}

#[test]
fn udp_count_s_end_to_end() {
    let (_server, address) = spawn_socklab_server("udp-count-s");
    socklab_client("udp-count-s", address.port())
        .write_stdin("mississippi\n")
        .assert()
        .success()
        .stdout("Input lowercase sentence:4\n");
}

#[test]
fn tcp_lines_end_to_end_while_another_client_is_connected() {
    let (_server, address) = spawn_socklab_server("tcp-lines");
    // A second client holds a connection open, idle, for the whole exchange.
    let mut idle = tcp_connect(address);

    socklab_client("tcp-lines", address.port())
        .write_stdin("first line\nsecond line\nthird line\n")
        .assert()
        .success()
        .stdout("FIRST LINE\nSECOND LINE\nTHIRD LINE\n");

    idle.write_all(b"still connected\n").unwrap();
    idle.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&idle), b"STILL CONNECTED\n");
}

#[test]
fn udp_client_without_a_server_fails_within_seconds() {
    let port = free_port(Protocol::Udp);
    socklab_client("udp-uppercase", port)
        .write_stdin("hello\n")
        .assert()
        .failure()
        .code(1)
        .stderr(contains("socklab: ").and(contains("Is the server running")));
}

#[test]
fn tcp_client_without_a_server_fails_at_once() {
    let port = free_port(Protocol::Tcp);
    socklab_client("tcp-uppercase", port)
        .write_stdin("hello\n")
        .assert()
        .code(1)
        .stderr(contains(format!(
            "socklab: nothing is listening on TCP port {port}"
        )));
}

#[test]
fn server_on_a_port_in_use_says_so() {
    // Hold a UDP port, then ask the server for the same one.
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    Command::new(env!("CARGO_BIN_EXE_socklab"))
        .args([
            "server",
            "udp-uppercase",
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(contains("already in use").and(contains("--port")));
}

#[test]
fn unknown_lab_lists_the_known_ones() {
    Command::new(env!("CARGO_BIN_EXE_socklab"))
        .args(["client", "udp-lowercase"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(
            contains("udp-lowercase")
                .and(contains("udp-uppercase"))
                .and(contains("tcp-uppercase"))
                .and(contains("udp-count-s"))
                .and(contains("tcp-lines")),
        );
}
