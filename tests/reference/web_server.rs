//! The `web-server` lab: files from a document root over HTTP/1.1, one
//! request per connection, a thread per connection.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread;

use socklab::http;
use socklab::http_response::{self, Parsed, Response};
use socklab::web_server;

use crate::support::{read_to_close, tcp_connect};

/// The lab's own document root, the one the grader puts beside a student's
/// server.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/labs/web-server-root")
}

fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP listener");
    let address = listener.local_addr().unwrap();
    thread::spawn(move || web_server::serve(listener, root()));
    address
}

/// Sends `request` in the given pieces and reads the whole response.
fn exchange(server: SocketAddr, pieces: &[&[u8]]) -> Vec<u8> {
    let mut stream = tcp_connect(server);
    for piece in pieces {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
    }
    read_to_close(&stream)
}

fn get(server: SocketAddr, target: &str) -> Response {
    let bytes = exchange(
        server,
        &[&http::get_request("localhost", target, "HTTP/1.1")],
    );
    match http_response::parse_response(&bytes, true) {
        Parsed::Complete(response) => response,
        other => panic!("GET {target}: not a valid response: {other:?}"),
    }
}

#[test]
fn serves_each_kind_of_file_byte_exact() {
    let server = start();
    for file in [
        "HelloWorld.html",
        "international.html",
        "images/logo.png",
        "notes/lab.txt",
        "large.html",
    ] {
        let response = get(server, &format!("/{file}"));
        assert_eq!(response.status, 200, "{file}");
        let expected = std::fs::read(root().join(file)).unwrap();
        assert!(
            response.body_is(&expected),
            "{file}: the body differs from the file"
        );
        assert_eq!(
            response.content_length,
            Some(expected.len()),
            "{file}: Content-Length counts bytes"
        );
    }
}

#[test]
fn answers_a_missing_file_and_a_climb_out_of_the_root_with_404() {
    let server = start();
    for target in [
        "/no-such-page.html",
        "/../Cargo.toml",
        "/images/../../Cargo.toml",
    ] {
        assert_eq!(get(server, target).status, 404, "{target}");
    }
}

#[test]
fn survives_an_empty_connection_and_a_request_in_pieces() {
    let server = start();
    let empty = tcp_connect(server);
    empty.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        read_to_close(&empty).is_empty(),
        "an empty connection gets no answer"
    );
    let bytes = exchange(
        server,
        &[
            b"GET /Hello",
            b"World.html HT",
            b"TP/1.0\r\nHost: x\r\n",
            b"\r\n",
        ],
    );
    let Parsed::Complete(response) = http_response::parse_response(&bytes, true) else {
        panic!("the request in pieces got {bytes:?}");
    };
    assert_eq!(response.status, 200);
}

#[test]
fn serves_another_client_while_one_stays_idle() {
    let server = start();
    let _idle = tcp_connect(server);
    assert_eq!(get(server, "/HelloWorld.html").status, 200);
}
