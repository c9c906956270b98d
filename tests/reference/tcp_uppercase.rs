//! The `tcp-uppercase` lab: one sentence per connection, one client at a time.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socklab::tcp_uppercase;

use crate::support::{read_to_close, start_tcp_server, tcp_connect};

/// One client the way the textbook's behaves: connect, send the sentence in
/// one write without a newline, read until the server closes.
fn exchange(server: SocketAddr, sentence: &[u8]) -> Vec<u8> {
    let mut stream = tcp_connect(server);
    stream.write_all(sentence).unwrap();
    read_to_close(&stream)
}

/// Connects and aborts the connection with a reset (RST) instead of a normal
/// close, as a crashed client or a lost machine would look to the server.
fn reset_connection(stream: TcpStream) {
    let socket = socket2::Socket::from(stream);
    // A zero linger time makes `close` send a reset and discard unsent data.
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    drop(socket);
}

#[test]
fn server_answers_one_client() {
    let server = start_tcp_server(tcp_uppercase::serve);
    assert_eq!(exchange(server, b"hello world"), b"HELLO WORLD");
}

#[test]
fn server_answers_several_clients_in_a_row() {
    let server = start_tcp_server(tcp_uppercase::serve);
    for (sentence, expected) in [
        ("first", "FIRST"),
        ("second one", "SECOND ONE"),
        ("3rd", "3RD"),
    ] {
        assert_eq!(exchange(server, sentence.as_bytes()), expected.as_bytes());
    }
}

#[test]
fn server_follows_unicode_rules() {
    let server = start_tcp_server(tcp_uppercase::serve);
    assert_eq!(
        exchange(server, "hello straße".as_bytes()),
        "HELLO STRASSE".as_bytes()
    );
}

#[test]
fn server_survives_a_client_that_closes_without_sending() {
    let server = start_tcp_server(tcp_uppercase::serve);
    drop(tcp_connect(server));
    assert_eq!(exchange(server, b"next client"), b"NEXT CLIENT");
}

#[test]
fn server_survives_a_client_that_resets_before_sending() {
    let server = start_tcp_server(tcp_uppercase::serve);
    reset_connection(tcp_connect(server));
    assert_eq!(exchange(server, b"next client"), b"NEXT CLIENT");
}

#[test]
fn server_survives_a_client_that_resets_after_sending() {
    let server = start_tcp_server(tcp_uppercase::serve);
    let mut stream = tcp_connect(server);
    stream.write_all(b"never mind").unwrap();
    reset_connection(stream);
    assert_eq!(exchange(server, b"next client"), b"NEXT CLIENT");
}

#[test]
fn server_survives_invalid_utf8() {
    let server = start_tcp_server(tcp_uppercase::serve);
    assert_eq!(exchange(server, b"bad \xff bytes"), b"BAD \xff BYTES");
    assert_eq!(exchange(server, b"valid again"), b"VALID AGAIN");
}

#[test]
fn client_prints_from_server_and_the_reply() {
    let server = start_tcp_server(tcp_uppercase::serve);
    let mut output = Vec::new();
    tcp_uppercase::run_client(
        "127.0.0.1",
        server.port(),
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
fn client_without_a_server_fails_with_an_explanation() {
    let port = crate::support::free_port(crate::support::Protocol::Tcp);
    let error = tcp_uppercase::run_client(
        "127.0.0.1",
        port,
        &mut "hello\n".as_bytes(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    let message = error.to_string();
    assert!(
        message.contains("nothing is listening on TCP port"),
        "{message}"
    );
}

#[test]
fn client_refuses_an_empty_sentence() {
    let error = tcp_uppercase::run_client("127.0.0.1", 9, &mut "\n".as_bytes(), &mut Vec::new())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}
