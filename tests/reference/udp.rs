//! The UDP labs: `udp-uppercase` and `udp-count-s`, servers and client.

use std::io::ErrorKind;
use std::net::UdpSocket;

use socklab::{transform, udp_count_s, udp_uppercase};

use crate::support::{receive_from, start_udp_server, udp_exchange, udp_peer};

#[test]
fn uppercase_server_answers_one_sentence() {
    let server = start_udp_server(udp_uppercase::serve);
    assert_eq!(udp_exchange(server, b"hello world"), b"HELLO WORLD");
}

#[test]
fn uppercase_server_answers_several_sentences_from_one_socket() {
    let server = start_udp_server(udp_uppercase::serve);
    let client = udp_peer();
    for (sentence, expected) in [("one", "ONE"), ("two words", "TWO WORDS"), ("3 x", "3 X")] {
        client.send_to(sentence.as_bytes(), server).unwrap();
        assert_eq!(receive_from(&client, server), expected.as_bytes());
    }
}

#[test]
fn uppercase_server_answers_each_client_at_its_own_address() {
    let server = start_udp_server(udp_uppercase::serve);
    let first = udp_peer();
    let second = udp_peer();
    assert_ne!(first.local_addr().unwrap(), second.local_addr().unwrap());
    // Both datagrams are waiting before either reply is read, so a server that
    // answered the wrong address would put a reply on the wrong socket.
    first.send_to(b"from the first client", server).unwrap();
    second.send_to(b"from the second client", server).unwrap();
    assert_eq!(receive_from(&second, server), b"FROM THE SECOND CLIENT");
    assert_eq!(receive_from(&first, server), b"FROM THE FIRST CLIENT");
}

#[test]
fn uppercase_server_answers_an_empty_datagram_with_an_empty_one() {
    let server = start_udp_server(udp_uppercase::serve);
    assert_eq!(udp_exchange(server, b""), b"");
}

#[test]
fn uppercase_server_follows_unicode_rules() {
    let server = start_udp_server(udp_uppercase::serve);
    assert_eq!(
        udp_exchange(server, "hello straße".as_bytes()),
        "HELLO STRASSE".as_bytes()
    );
}

#[test]
fn uppercase_server_answers_a_full_2048_byte_datagram() {
    let server = start_udp_server(udp_uppercase::serve);
    let sentence: Vec<u8> = b"abcdefgh".iter().copied().cycle().take(2048).collect();
    let reply = udp_exchange(server, &sentence);
    assert_eq!(reply.len(), 2048);
    assert_eq!(reply, sentence.to_ascii_uppercase());
}

#[test]
fn uppercase_server_survives_invalid_utf8() {
    let server = start_udp_server(udp_uppercase::serve);
    let client = udp_peer();
    client.send_to(b"bad \xff\xfe bytes", server).unwrap();
    // The reference passes bytes that are not text through unchanged.
    assert_eq!(receive_from(&client, server), b"BAD \xff\xfe BYTES");
    client.send_to(b"still here", server).unwrap();
    assert_eq!(receive_from(&client, server), b"STILL HERE");
}

#[test]
fn uppercase_server_survives_a_client_that_left_before_the_reply() {
    let server = start_udp_server(udp_uppercase::serve);
    // The socket is closed right after sending, so the server's reply goes to
    // a port where nobody listens and comes back as "port unreachable".
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"gone", server)
        .unwrap();
    assert_eq!(udp_exchange(server, b"next client"), b"NEXT CLIENT");
    assert_eq!(udp_exchange(server, b"and the next"), b"AND THE NEXT");
}

#[test]
fn count_s_server_counts_both_cases() {
    let server = start_udp_server(udp_count_s::serve);
    assert_eq!(udp_exchange(server, b"mississippi"), b"4");
    assert_eq!(udp_exchange(server, b""), b"0");
    assert_eq!(udp_exchange(server, b"Sassafras Sessions"), b"8");
    let long: Vec<u8> = b"she sells sea shells "
        .iter()
        .copied()
        .cycle()
        .take(2000)
        .collect();
    assert_eq!(udp_exchange(server, &long), transform::count_s(&long));
}

#[test]
fn client_prints_the_prompt_and_the_reply() {
    let server = start_udp_server(udp_uppercase::serve);
    let mut output = Vec::new();
    udp_uppercase::run_client(
        "127.0.0.1",
        server.port(),
        &mut "hello straße\r\n".as_bytes(),
        &mut output,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(output).unwrap(),
        "Input lowercase sentence:HELLO STRASSE\n"
    );
}

#[test]
fn count_s_client_prints_the_count() {
    let server = start_udp_server(udp_count_s::serve);
    let mut output = Vec::new();
    udp_count_s::run_client(
        "localhost",
        server.port(),
        &mut "mississippi\n".as_bytes(),
        &mut output,
    )
    .unwrap();
    assert_eq!(output, b"Input lowercase sentence:4\n");
}

#[test]
fn client_without_a_server_fails_with_an_explanation() {
    // A port that nobody listens on: bound, noted, released.
    let port = crate::support::free_port(crate::support::Protocol::Udp);
    let mut output = Vec::new();
    let error =
        udp_uppercase::run_client("127.0.0.1", port, &mut "hello\n".as_bytes(), &mut output)
            .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::WouldBlock
                | ErrorKind::TimedOut
                | ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
        ),
        "unexpected error kind {:?}",
        error.kind()
    );
    let message = error.to_string();
    assert!(message.contains(&port.to_string()), "{message}");
    assert!(message.contains("Is the server running"), "{message}");
}

#[test]
fn client_refuses_missing_input() {
    let mut output = Vec::new();
    let error =
        udp_uppercase::run_client("127.0.0.1", 9, &mut "".as_bytes(), &mut output).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
}
