//! # Lab: a web server
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, chapter 2,
//! socket programming assignment "Web Server". The assignment's skeleton is
//! `WebServer.py`; here you write the server in Rust, with the same socket
//! calls from `std::net`.
//!
//! - [`serve`]: accept a connection, read one HTTP request, answer with the
//!   file it names from `root` (`200 OK` and the file's bytes) or with
//!   `404 Not Found`, close the connection, and accept the next one, forever.
//!
//! The program in `src/bin/` reads `--port` and `--bind`, creates the
//! listening socket and calls [`serve`] with the working directory as the
//! root. The handout, `README.md`, has the rules of a response, how to try
//! the server with a browser or curl, and hints.
//!
//! Replace the `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what it
//! sent, what it expected and what came back.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;

/// The assignment's example port, which the handout's browser URL uses.
pub const DEFAULT_PORT: u16 = 6789;

/// Serves the files under `root` forever, one request per connection.
///
/// `listener` is already listening: the program did
/// `serverSocket = socket(AF_INET, SOCK_STREAM)`, `serverSocket.bind(...)`
/// and `serverSocket.listen(1)` for you. Return only if the listener itself
/// fails: nothing a client does may stop the server.
pub fn serve(listener: TcpListener, root: PathBuf) -> io::Result<()> {
    eprintln!(
        "web-server listening on {}, serving {}",
        listener.local_addr()?,
        root.display()
    );

    // TODO: Loop forever and `accept()` the next connection.
    // TODO: Read the request until its head has arrived: a blank line
    //       ("\r\n\r\n") ends it, and one `read` may return only part of it.
    //       A read of 0 bytes before anything arrived is an empty connection:
    //       close it and go on.
    // TODO: Take the path from the first line (`GET /HelloWorld.html HTTP/1.1`:
    //       the second word), drop its leading '/', and refuse any path with a
    //       `..` part: answer those like a missing file.
    // TODO: Read the file as bytes (`std::fs::read`) and send
    //       "HTTP/1.1 200 OK\r\nContent-Length: <bytes>\r\n\r\n" and then the
    //       bytes, with `write_all`. A missing file gets
    //       "HTTP/1.1 404 Not Found\r\n\r\n" and a small HTML page.
    // TODO: Close the connection (drop the `TcpStream`). When reading or
    //       writing fails, print the error with `eprintln!` and go back to
    //       `accept` instead of returning.
    // TODO (optional): serve each connection on a thread of its own
    //       (`std::thread::spawn`), so an idle client cannot block the others.
    todo!("accept a connection, read the request, send the file or a 404, close, and repeat")
}
