//! # Lab: the UDP uppercase server and client
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, section 2.7.1,
//! "Socket Programming with UDP". The textbook writes this application in
//! Python as `UDPServer.py` and `UDPClient.py`; here you write it in Rust, with
//! the same socket calls from `std::net`.
//!
//! - [`serve`]: for every datagram that arrives, send its text back in
//!   uppercase to the address it came from, and keep serving forever.
//! - [`run_client`]: read one sentence, send it to the server in one datagram,
//!   wait for the reply and print it.
//!
//! The programs in `src/bin/` do the rest: they read `--port`, `--host` and
//! `--bind`, bind the server's socket and call these two functions. The
//! handout, `README.md`, has the protocol, how to run the programs by hand, and
//! hints.
//!
//! Replace each `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what it
//! sent, what it expected and what came back.

use std::io::{self, BufRead, Write};
use std::net::UdpSocket;

/// Serves forever: answers every datagram with its text in uppercase, sent
/// back to the address the datagram came from.
///
/// `socket` is already bound to the server's port: the server program did the
/// textbook's `serverSocket = socket(AF_INET, SOCK_DGRAM)` and
/// `serverSocket.bind(('', serverPort))` for you, so that tests can choose the
/// port. Return only if the socket itself fails: nothing a client sends may
/// stop the server.
pub fn serve(socket: UdpSocket) -> io::Result<()> {
    // The textbook prints 'The server is ready to receive' here. Standard error
    // keeps standard output free, and the address shows the real port.
    eprintln!("udp-uppercase server listening on {}", socket.local_addr()?);

    // TODO: Loop forever (`loop { ... }`), as the textbook's `while True:`.
    // TODO: Receive a datagram and its sender's address with
    //       `socket.recv_from(&mut buffer)`, into a buffer of 2048 bytes (the
    //       textbook's `recvfrom(2048)`). Only the first `length` bytes of the
    //       buffer are this datagram.
    // TODO: Uppercase its text. The bytes may not be valid UTF-8: decode them
    //       without failing (`String::from_utf8_lossy`) before `to_uppercase`.
    // TODO: Send the uppercased bytes back with `socket.send_to`, to the
    //       address `recv_from` returned.
    // TODO: When a receive or a send fails, print the error with `eprintln!`
    //       and carry on with the next datagram instead of returning.
    todo!("receive a datagram, uppercase it, send it back to its sender, and repeat")
}

/// Asks for a sentence, sends it to the server at `host:port` in one datagram,
/// waits a few seconds at most for the reply and prints it.
///
/// `input` is standard input and `output` standard output (tests pass others).
/// Return an error when no reply comes: the program then prints it and exits
/// with a failure status.
pub fn run_client(
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    // The textbook's `message = input('Input lowercase sentence:')`, done for
    // you: print the prompt, then read one line without its line ending.
    output.write_all(b"Input lowercase sentence:")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let sentence = line.trim_end_matches(['\r', '\n']);

    // TODO: Create the client's socket with `UdpSocket::bind("0.0.0.0:0")`:
    //       port 0 lets the system choose a free port, as Python does on the
    //       first `sendto`.
    // TODO: Send the sentence's bytes to `(host, port)` with `send_to`. The
    //       newline is not sent: a datagram has its own boundaries.
    // TODO: Set a read timeout of about two seconds
    //       (`socket.set_read_timeout`): a lost datagram, or no server at all,
    //       must not make the client wait forever.
    // TODO: Receive the reply with `recv_from` and write it to `output`,
    //       followed by a newline. When the receive times out, return an error
    //       that tells the user that no server answered.
    todo!("send {sentence:?} to the server at {host}:{port} in one datagram, then print its reply")
}
