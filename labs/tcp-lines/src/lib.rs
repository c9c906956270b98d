//! # Lab: a TCP server for many lines and many clients
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, section 2.7.2,
//! "Socket Programming with TCP", and the modification the textbook suggests:
//! let a client keep sending sentences on one connection. Done right, that
//! is a line-based protocol, the way SMTP and HTTP's headers work.
//!
//! - [`serve`]: every connection carries sentences, each ending with a
//!   newline; answer every complete line with its uppercase and a newline, until
//!   the client closes. Serve several clients at the same time: a client that
//!   stays connected and quiet must not keep the others waiting.
//! - [`run_client`]: send every line of the input to the server, print every
//!   reply, and exit when the input ends and every reply has come.
//!
//! TCP carries a stream of bytes, not messages: one read may return half a
//! line, or three lines and the start of a fourth. The newline is the only
//! thing that marks where a sentence ends.
//!
//! The programs in `src/bin/` read `--port`, `--host` and `--bind`, create the
//! server's listening socket and call these two functions. The handout,
//! `README.md`, has the protocol, how to run the programs by hand, and hints.
//!
//! Replace each `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what it
//! sent, what it expected and what came back.

use std::io::{self, BufRead, Write};
use std::net::TcpListener;

/// Serves forever, every connection on its own thread.
///
/// `listener` is the textbook's welcoming socket, already listening: the
/// server program did `serverSocket = socket(AF_INET, SOCK_STREAM)`,
/// `serverSocket.bind(('', serverPort))` and `serverSocket.listen()` for you,
/// so that tests can choose the port. Return only if the listener itself
/// fails: nothing a client does may stop the server.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // The textbook prints 'The server is ready to receive' here. Standard error
    // keeps standard output free, and the address shows the real port.
    eprintln!("tcp-lines server listening on {}", listener.local_addr()?);

    // TODO: Loop forever, accepting connections with `listener.accept()`.
    // TODO: Serve each connection on its own thread (`std::thread::spawn` with
    //       a `move` closure), so that the loop goes straight back to `accept`.
    // TODO: In that thread, read the connection line by line: a `BufReader`
    //       around the stream collects bytes up to the next `\n` with
    //       `read_until`, however the bytes were split on the way.
    // TODO: Answer every complete line with its uppercase followed by `\n`
    //       (`String::from_utf8_lossy`, then `to_uppercase`), with `write_all`.
    // TODO: A read of 0 bytes means the client has finished sending: return
    //       from the thread, which closes the connection. A failed read or
    //       write ends that client's thread only; print it with `eprintln!`.
    todo!("accept connections, and on a thread per connection answer every line with its uppercase")
}

/// Sends every line of `input` to the server at `host:port`, then prints every
/// line the server sends back.
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
    // TODO: Connect to the server with `TcpStream::connect((host, port))`.
    // TODO: Send every line of `input` with `write_all`, each with its `\n`
    //       (add one to a last line that has none).
    // TODO: When `input` ends, shut down the sending side of the connection
    //       (`shutdown(Shutdown::Write)`): the server reads that as the end of
    //       your lines, answers them all and closes the connection.
    // TODO: Read the replies (a `BufReader` and `read_line`, with a read
    //       timeout of a few seconds) and write each one to `output`, until
    //       the server closes the connection.
    //
    // `input` and `output` are unused until you write those steps; this line
    // keeps the compiler from warning about it. Delete it when you start.
    let _ = (input, output);
    todo!(
        "connect to the server at {host}:{port}, send every line of the input, then print every reply"
    )
}
