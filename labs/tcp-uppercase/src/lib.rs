//! # Lab: the TCP uppercase server and client
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, section 2.7.2,
//! "Socket Programming with TCP". The textbook writes this application in
//! Python as `TCPServer.py` and `TCPClient.py`; here you write it in Rust, with
//! the same socket calls from `std::net`.
//!
//! - [`serve`]: accept a connection, read the client's sentence, send it back
//!   in uppercase, close the connection, and accept the next client, forever.
//! - [`run_client`]: read one sentence, connect to the server, send the
//!   sentence, print the reply.
//!
//! The programs in `src/bin/` do the rest: they read `--port`, `--host` and
//! `--bind`, create the server's listening socket and call these two
//! functions. The handout, `README.md`, has the protocol, how to run the
//! programs by hand, and hints.
//!
//! Replace each `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what it
//! sent, what it expected and what came back.

use std::io::{self, BufRead, Write};
use std::net::TcpListener;

/// Serves forever, one client at a time and one sentence per connection.
///
/// `listener` is the textbook's welcoming socket, already listening: the
/// server program did `serverSocket = socket(AF_INET, SOCK_STREAM)`,
/// `serverSocket.bind(('', serverPort))` and `serverSocket.listen(1)` for you,
/// so that tests can choose the port. Return only if the listener itself
/// fails: nothing a client does may stop the server.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // The textbook prints 'The server is ready to receive' here. Standard error
    // keeps standard output free, and the address shows the real port.
    eprintln!(
        "tcp-uppercase server listening on {}",
        listener.local_addr()?
    );

    // TODO: Loop forever (`loop { ... }`), as the textbook's `while True:`.
    // TODO: Accept the next client with `listener.accept()`: it returns a new
    //       socket (a `TcpStream`) connected to that client alone.
    // TODO: Read the sentence with one `read` into a buffer of 1024 bytes (the
    //       textbook's `recv(1024)`). A read of 0 bytes means the client closed
    //       the connection without sending anything.
    // TODO: Uppercase the text (`String::from_utf8_lossy`, then
    //       `to_uppercase`) and send it back with `write_all`.
    // TODO: Close the connection (dropping the `TcpStream` closes it) and go
    //       back to `accept`. When reading or writing fails, print the error
    //       with `eprintln!` and carry on with the next client instead of
    //       returning.
    todo!("accept a connection, read the sentence, send it back uppercased, close, and repeat")
}

/// Asks for a sentence, connects to the server at `host:port`, sends the
/// sentence and prints the reply.
///
/// `input` is standard input and `output` standard output (tests pass others).
/// Return an error when the server cannot be reached: the program then prints
/// it and exits with a failure status.
pub fn run_client(
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    // The textbook's `sentence = input('Input lowercase sentence:')`, done for
    // you: print the prompt, then read one line without its line ending.
    output.write_all(b"Input lowercase sentence:")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let sentence = line.trim_end_matches(['\r', '\n']);

    // TODO: Connect to the server with `TcpStream::connect((host, port))`: the
    //       textbook's `socket(AF_INET, SOCK_STREAM)` and `connect` in one call.
    // TODO: Send the sentence's bytes with `write_all`, without the newline,
    //       as the textbook's client does.
    // TODO: Read the reply until the server closes the connection
    //       (`read_to_string`), with a read timeout of a few seconds
    //       (`set_read_timeout`) so that a silent server cannot make the
    //       client wait forever.
    // TODO: Write `From Server: ` and the reply to `output`, followed by a
    //       newline.
    todo!("connect to the server at {host}:{port}, send {sentence:?}, then print the reply")
}
