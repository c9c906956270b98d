//! # Lab: a mail client
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, chapter 2,
//! socket programming assignment "Mail Client". The assignment's skeleton is
//! `MailClient.py`; here you write the client in Rust, with the same socket
//! calls from `std::net`, and without a mail library: you speak SMTP
//! yourself.
//!
//! - [`send_mail`]: connect to the mail server, read its `220` greeting,
//!   then send `HELO`, `MAIL FROM:<…>`, `RCPT TO:<…>`, `DATA`, the message
//!   ended by a line holding only a dot, and `QUIT`, reading the server's
//!   reply to each command (and checking its code) before the next one.
//!
//! The program in `src/bin/` reads `--host` and `--port`, reads the message
//! from standard input and calls [`send_mail`]. The handout, `README.md`,
//! has the dialogue, how to try the client against a mail sink, and hints.
//!
//! Replace the `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what the
//! grader's mail server saw, and a hint.

use std::io::{self, Write};

/// The mail sink's port (`socklab server smtp-client`). SMTP's own port is
/// 25, where only the administrator may listen.
pub const DEFAULT_PORT: u16 = 2525;

/// What to send: the envelope's sender and recipient, and the message
/// (its headers, a blank line, its text).
pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub message: &'a str,
}

/// Sends one mail to the SMTP server at `host:port`, printing each reply of
/// the server to `output` as it arrives.
///
/// Every line you send ends in `"\r\n"`, and so does every line the server
/// sends. Return an `Err` (with a message saying what the server answered)
/// when a reply's code is not the one expected: the program prints it and
/// exits with a failure status.
pub fn send_mail(
    host: &str,
    port: u16,
    envelope: &Envelope,
    output: &mut dyn Write,
) -> io::Result<()> {
    let _ = (host, port, envelope, &output);
    // TODO: Connect: `TcpStream::connect((host, port))`, the handout's
    //       `clientSocket.connect(mailserver)`. Set a read timeout of a few
    //       seconds (`set_read_timeout`): a slow server is not an error, a
    //       silent one is.
    // TODO: Read the server's greeting before you say anything: it speaks
    //       first, with a reply whose code is 220.
    // TODO: A reply is one or more lines: `250-first`, `250-second`,
    //       `250 last`. Keep reading until a line whose code is followed by a
    //       space (not a dash) has arrived; one `read` may return part of a
    //       line, or several lines. Write each reply to `output`.
    // TODO: Send "HELO <a name for your machine>\r\n" and expect 250.
    // TODO: Send "MAIL FROM:<sender>\r\n" (the angle brackets are required)
    //       and expect 250; then "RCPT TO:<recipient>\r\n" and expect 250.
    //       A 550 there means the recipient is refused: do not send the
    //       message; send QUIT and return an error.
    // TODO: Send "DATA\r\n" and expect 354; then the message with every line
    //       ended by "\r\n" (a line starting with '.' gets a second '.'),
    //       then ".\r\n", and expect 250.
    // TODO: Send "QUIT\r\n", expect 221, and let the stream close.
    todo!(
        "connect, read the greeting, then HELO, MAIL FROM, RCPT TO, DATA, the message and QUIT, reading each reply"
    )
}
