//! The `web-server` lab: chapter 2's first socket assignment, "Web Server".
//!
//! The server listens on a TCP port of its choosing (the handout uses 6789),
//! reads one HTTP request per connection, and answers with the file it names
//! from its document root: `200 OK` and the file's bytes, or `404 Not Found`.
//! Then it closes the connection and serves the next one. Read this file
//! beside the handout's `WebServer.py` skeleton; each step names the Python
//! line it fills in. The HTTP rules themselves (what a response looks like,
//! which paths are safe) are in [`crate::http`], shared with the grader.
//!
//! This server gives each connection a thread of its own, the handout's
//! optional exercise: a browser that opens a connection and sends nothing
//! (they do, to save time later) must not keep everyone else waiting.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::client_setup;
use crate::http::{self, RequestError, Resolved};

/// The handout's example port.
pub const DEFAULT_PORT: u16 = 6789;

/// How long a connection may take to send its request. A browser sends at
/// once; a connection that stays silent this long is closed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves files from `root` forever, one thread per connection.
///
/// `listener` is bound and listening: `serverSocket = socket(AF_INET,
/// SOCK_STREAM)`, `serverSocket.bind(('', 6789))` and `serverSocket.listen(1)`
/// in the handout's skeleton.
pub fn serve(listener: TcpListener, root: PathBuf) -> io::Result<()> {
    // The handout prints 'Ready to serve...' before each accept; once is
    // enough, on standard error, with the port really bound.
    eprintln!(
        "web-server listening on {}, serving {}",
        listener.local_addr()?,
        root.display()
    );
    // Every thread reads the same root; `Arc` shares it without copying.
    let root = Arc::new(root);
    loop {
        // `connectionSocket, addr = serverSocket.accept()`.
        let (connection, client) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("web-server: accepting a connection failed ({error}); still serving");
                continue;
            }
        };
        let root = Arc::clone(&root);
        // The multi-threaded exercise: the loop goes straight back to
        // `accept()` while this connection is answered on its own thread.
        thread::spawn(move || {
            if let Err(error) = answer(connection, &root) {
                // A client that leaves mid-response (`BrokenPipeError` in
                // Python) concerns that client only.
                eprintln!("web-server: client {client}: {error}");
            }
        });
    }
}

/// Reads one request from `connection` and sends the response.
fn answer(mut connection: TcpStream, root: &Path) -> io::Result<()> {
    connection.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let request = read_request_head(&mut connection)?;

    // `filename = message.split()[1]`, which raises `IndexError` when the
    // message is empty: an empty connection is simply closed.
    let line = match http::parse_request_line(&request) {
        Ok(line) => line,
        Err(RequestError::Empty) => return Ok(()),
        Err(RequestError::Malformed(line)) => {
            let body = format!("`{line}` is not a request line: it must be METHOD PATH VERSION.\n");
            return send(
                &mut connection,
                400,
                "Bad Request",
                "text/plain; charset=utf-8",
                body.as_bytes(),
            );
        }
    };
    if line.method != "GET" {
        let body = b"This server answers GET requests only.\n";
        return send(
            &mut connection,
            501,
            "Not Implemented",
            "text/plain; charset=utf-8",
            body,
        );
    }

    // `f = open(filename[1:])`, made safe: see `http::resolve`. The file is
    // read as bytes ('rb' in Python), never as text, so a PNG arrives intact.
    let file = match http::resolve(root, &line.target) {
        Resolved::Inside(path) => fs::read(&path).ok().map(|bytes| (path, bytes)),
        Resolved::Outside => None,
    };
    match file {
        Some((path, bytes)) => send(
            &mut connection,
            200,
            "OK",
            http::content_type(&path),
            &bytes,
        ),
        // `except IOError:` in the handout: the 404 is a whole response too,
        // status line first.
        None => send(
            &mut connection,
            404,
            "Not Found",
            "text/html; charset=utf-8",
            &http::not_found_body(&line.target),
        ),
    }
}

/// Reads until the blank line that ends a request's head, or until the
/// client closes. One `recv(1024)` is what the handout does; a request can
/// arrive in several pieces, so this keeps reading until it is whole.
fn read_request_head(connection: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while http::request_head_end(&request).is_none() && request.len() < http::MAX_REQUEST_HEAD {
        match connection.read(&mut buffer) {
            Ok(0) => break,
            Ok(length) => request.extend_from_slice(&buffer[..length]),
            Err(error) if client_setup::is_timeout(&error) => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "sent no request in time",
                ));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(request)
}

/// Sends a whole response: head, then body. `write_all` is Python's
/// `sendall`: one call that keeps sending until every byte has gone, where
/// the handout's solution sends the file one character per `send`.
fn send(
    connection: &mut TcpStream,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    connection.write_all(&http::response_head(
        status,
        reason,
        content_type,
        body.len(),
    ))?;
    connection.write_all(body)?;
    // `connectionSocket.close()` happens when `connection` is dropped.
    Ok(())
}
