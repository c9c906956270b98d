//! The `tcp-lines` lab: newline-terminated sentences, many per connection,
//! many connections at once.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use socklab::tcp_lines;

use crate::support::{read_to_close, start_tcp_server, tcp_connect};

/// Reads one reply line, newline included.
fn read_line(stream: &TcpStream) -> Vec<u8> {
    // One byte at a time, so that nothing after the line is consumed and
    // lost with a throwaway buffer.
    let mut line = Vec::new();
    BufReader::with_capacity(1, stream)
        .read_until(b'\n', &mut line)
        .expect("the server should reply in time");
    line
}

#[test]
fn server_answers_a_line_split_across_two_writes() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    // The first write ends in the middle of a line. The reply to the complete
    // line proves the server has read that write, so the unfinished "tw" is
    // in its hands, and must not be answered until the rest arrives.
    stream.write_all(b"one\ntw").unwrap();
    assert_eq!(read_line(&stream), b"ONE\n");
    stream.write_all(b"o\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&stream), b"TWO\n");
}

#[test]
fn server_answers_two_lines_sent_in_one_write() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    stream.write_all(b"first line\nsecond line\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&stream), b"FIRST LINE\nSECOND LINE\n");
}

#[test]
fn server_answers_many_lines_in_order() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    let sent: String = (0..2000).map(|n| format!("line number {n}\n")).collect();
    // Reading on another thread while writing: the replies to this much input
    // could otherwise fill the buffers while the test is still writing.
    let reader = stream.try_clone().unwrap();
    let replies = thread::spawn(move || read_to_close(&reader));
    stream.write_all(sent.as_bytes()).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(replies.join().unwrap(), sent.to_uppercase().into_bytes());
}

#[test]
fn server_keeps_carriage_returns_and_answers_empty_lines() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    stream.write_all("crlf\r\n\nstraße\n".as_bytes()).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&stream), "CRLF\r\n\nSTRASSE\n".as_bytes());
}

#[test]
fn idle_client_does_not_block_another() {
    let server = start_tcp_server(tcp_lines::serve);
    // The first client connects, sends half a line and goes quiet.
    let mut idle = tcp_connect(server);
    idle.write_all(b"hal").unwrap();

    let mut busy = tcp_connect(server);
    busy.write_all(b"served meanwhile\n").unwrap();
    assert_eq!(read_line(&busy), b"SERVED MEANWHILE\n");
    busy.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&busy), b"");

    // The quiet client's half line was kept for it all along.
    idle.write_all(b"f\n").unwrap();
    assert_eq!(read_line(&idle), b"HALF\n");
}

#[test]
fn half_close_gets_every_reply_and_no_reply_to_an_unfinished_line() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    stream.write_all(b"last line\nno newline").unwrap();
    // After a half-close the client can still read: the server answers the
    // complete line, ignores the unfinished one and closes.
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&stream), b"LAST LINE\n");
}

#[test]
fn server_answers_a_line_of_the_maximum_length() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    let mut line = vec![b'x'; tcp_lines::MAX_LINE];
    line.push(b'\n');
    stream.write_all(&line).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&stream), line.to_ascii_uppercase());
}

#[test]
fn server_closes_a_connection_whose_line_is_too_long_and_keeps_serving() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut stream = tcp_connect(server);
    // The server may close while this is still being written, so a failed
    // write is expected as much as a successful one.
    let _ = stream.write_all(&vec![b'x'; tcp_lines::MAX_LINE + 1000]);
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => assert_eq!(reply, b"", "a line that is too long gets no reply"),
        Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionReset),
    }

    let mut next = tcp_connect(server);
    next.write_all(b"still serving\n").unwrap();
    assert_eq!(read_line(&next), b"STILL SERVING\n");
}

#[test]
fn client_sends_every_line_and_prints_every_reply() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut output = Vec::new();
    tcp_lines::run_client(
        "127.0.0.1",
        server.port(),
        &mut "one\ntwo straße\nthree without newline".as_bytes(),
        &mut output,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(output).unwrap(),
        "ONE\nTWO STRASSE\nTHREE WITHOUT NEWLINE\n"
    );
}

#[test]
fn client_with_no_input_sends_nothing_and_succeeds() {
    let server = start_tcp_server(tcp_lines::serve);
    let mut output = Vec::new();
    tcp_lines::run_client("127.0.0.1", server.port(), &mut "".as_bytes(), &mut output).unwrap();
    assert_eq!(output, b"");
}

#[test]
fn client_gives_up_on_a_server_that_never_replies() {
    // A server that accepts and then neither reads nor closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = thread::spawn(move || listener.accept().map(|(stream, _)| stream));

    let mut output = Vec::new();
    let error = tcp_lines::run_client("127.0.0.1", port, &mut "hello\n".as_bytes(), &mut output)
        .unwrap_err();
    assert!(matches!(
        error.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    let message = error.to_string();
    assert!(message.contains("with 0 of 1 lines answered"), "{message}");
    drop(silent.join());
}
