//! The textbook's Python programs against the reference, both ways round:
//! the reference client talks to the Python server, and the Python client
//! talks to the reference server. Both sides must agree on the protocol, so a
//! difference between the reference and the textbook shows up here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use socklab::{tcp_uppercase, udp_uppercase};
use tempfile::TempDir;

use crate::support::{ChildGuard, Protocol, free_port, start_tcp_server, start_udp_server};

/// The line of every textbook program that fixes the port.
const PORT_LINE: &str = "serverPort = 12000";

/// Copies a textbook program into a fresh directory with its port changed
/// from 12000 to `port`, and returns the directory (deleted when dropped) and
/// the copy's path.
///
/// Tests never use a fixed port: they run side by side and on machines where
/// 12000 may be taken. The grader runs these programs unmodified, each in a
/// private network namespace where 12000 is always free; tests cannot count
/// on namespaces, so they edit the one line instead.
fn with_port(program: &str, port: u16) -> (TempDir, PathBuf) {
    let original = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/submissions")
        .join(program);
    let source = std::fs::read_to_string(&original).unwrap();
    assert_eq!(
        source.lines().filter(|line| *line == PORT_LINE).count(),
        1,
        "{} should contain the line `{PORT_LINE}` exactly once",
        original.display()
    );
    let edited = source.replacen(PORT_LINE, &format!("serverPort = {port}"), 1);
    let directory = tempfile::tempdir().unwrap();
    let copy = directory.path().join(original.file_name().unwrap());
    std::fs::write(&copy, edited).unwrap();
    (directory, copy)
}

/// `python3 -u <program>`: unbuffered, so output appears as it is printed, and
/// in UTF-8 mode, so non-ASCII text works whatever the machine's locale.
fn python(program: &Path) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-u")
        .arg(program)
        .current_dir(program.parent().unwrap())
        .env("PYTHONUTF8", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// Starts a textbook server on a free port and waits until its socket is bound.
fn start_python_server(program: &str, protocol: Protocol) -> (ChildGuard, TempDir, u16) {
    let port = free_port(protocol);
    let (directory, copy) = with_port(program, port);
    let child = python(&copy)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run the textbook's programs");
    let mut server = ChildGuard::new(child);
    server.wait_until_bound(protocol, port);
    (server, directory, port)
}

/// Runs a textbook client with `typed` on its standard input and returns what
/// it printed, failing the test if it fails or takes too long.
fn run_python_client(program: &str, port: u16, typed: &str) -> String {
    let (_directory, copy) = with_port(program, port);
    let assert = assert_cmd::Command::from_std(python(&copy))
        .write_stdin(typed)
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

#[test]
fn reference_udp_client_talks_to_the_textbook_udp_server() {
    let (_server, _directory, port) =
        start_python_server("udp-uppercase/textbook/UDPServer.py", Protocol::Udp);
    let mut output = Vec::new();
    udp_uppercase::run_client(
        "127.0.0.1",
        port,
        &mut "hello straße\n".as_bytes(),
        &mut output,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(output).unwrap(),
        "Input lowercase sentence:HELLO STRASSE\n"
    );
}

#[test]
fn textbook_udp_client_talks_to_the_reference_udp_server() {
    let server = start_udp_server(udp_uppercase::serve);
    let printed = run_python_client(
        "udp-uppercase/textbook/UDPClient.py",
        server.port(),
        "hello straße\n",
    );
    assert!(
        printed.contains("HELLO STRASSE"),
        "the client printed {printed:?}"
    );
}

#[test]
fn reference_tcp_client_talks_to_the_textbook_tcp_server() {
    let (_server, _directory, port) =
        start_python_server("tcp-uppercase/textbook/TCPServer.py", Protocol::Tcp);
    let mut output = Vec::new();
    tcp_uppercase::run_client(
        "127.0.0.1",
        port,
        &mut "hello straße\n".as_bytes(),
        &mut output,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(output).unwrap(),
        "Input lowercase sentence:From Server: HELLO STRASSE\n"
    );
}

#[test]
fn textbook_tcp_client_talks_to_the_reference_tcp_server() {
    let server = start_tcp_server(tcp_uppercase::serve);
    let printed = run_python_client(
        "tcp-uppercase/textbook/TCPClient.py",
        server.port(),
        "hello straße\n",
    );
    assert!(
        printed.contains("From Server:  HELLO STRASSE"),
        "the client printed {printed:?}"
    );
}
