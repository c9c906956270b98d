//! The `tcp-lines` lab: the textbook's "keep sending sentences" exercise for
//! section 2.7.2, done the way a real line-based protocol (SMTP, HTTP's
//! headers, Redis's inline commands) does it.
//!
//! A connection carries any number of sentences, each ending with a newline
//! (`\n`). For every complete line the server sends back the line uppercased,
//! with a newline. The connection lasts until the client closes it, and the
//! server talks to many clients at once.
//!
//! Three ideas carry this lab:
//!
//! - **TCP is a byte stream.** One `read` may return half a line, or three
//!   lines and the start of a fourth: the sender's writes are not preserved.
//!   The newline is what marks the end of a sentence, so the server collects
//!   bytes until it sees one. `BufReader::read_until` does that collecting.
//! - **One thread per connection.** The `tcp-uppercase` server serves one
//!   client at a time, so a client that connects and stays quiet blocks
//!   everyone. Here each connection gets its own thread; a quiet client only
//!   blocks its own thread.
//! - **Closing one direction.** When the client has sent its last line it
//!   shuts down its sending side (a "half-close"). The server reads that as
//!   end of file, answers what it has, and closes; the client reads replies
//!   until that close. See [`run_client`] for why this order matters.

use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::client_setup;
use crate::transform;

/// The longest line the server accepts, not counting its newline: 64 KiB.
///
/// Without a limit, a client that sends bytes and never a newline would make
/// the server buffer them until it ran out of memory. When a line grows past
/// this limit the server closes the connection (see [`serve`]).
pub const MAX_LINE: usize = 64 * 1024;

/// How long the client waits for the server's next reply once it has sent all
/// its lines.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves forever, each connection on its own thread.
///
/// `listener` is already bound and listening (see
/// [`tcp_uppercase::serve`](crate::tcp_uppercase::serve) for the textbook
/// lines `TcpListener::bind` stands for, and why the server takes a bound
/// listener).
///
/// On each connection, every complete line gets its uppercase followed by
/// `\n`, in order. Bytes after the last newline when the client closes are an
/// unfinished sentence and get no reply. A line longer than [`MAX_LINE`] makes
/// the server close that connection without replying to it: any reply, even
/// an error message, would look like just another uppercased line to the
/// client, while a closed connection cannot be mistaken for one. The reason is
/// written to the server's standard error.
///
/// Returns only if the listener itself is unusable.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    eprintln!("tcp-lines server listening on {}", listener.local_addr()?);

    loop {
        // `connectionSocket, addr = serverSocket.accept()`: wait for the next
        // client's connection and get a socket for it alone.
        let (connection, client_address) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually one client that vanished during its handshake. It
                // can also be "too many open files" while many clients are
                // connected; pausing a moment, instead of retrying at once,
                // gives other connections time to finish and free theirs.
                eprintln!(
                    "tcp-lines server: accepting a connection failed ({error}); still serving"
                );
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };

        // Hand the connection to a new thread and go straight back to
        // `accept`, so the next client is welcomed whatever this one does.
        // The thread ends when its client closes the connection.
        let spawned = thread::Builder::new()
            .name(format!("tcp-lines {client_address}"))
            .spawn(move || {
                if let Err(error) = answer_lines(connection) {
                    eprintln!("tcp-lines server: client {client_address}: {error}");
                }
            });
        if let Err(error) = spawned {
            // The system refused a new thread (too many already). The
            // connection, moved into the closure that never ran, is closed;
            // that client can try again later.
            eprintln!(
                "tcp-lines server: no thread for client {client_address} ({error}); connection closed"
            );
        }
    }
}

/// Answers every complete line of one connection until the client closes it.
fn answer_lines(connection: TcpStream) -> io::Result<()> {
    // A `TcpStream` can be read and written at the same time. `&TcpStream`
    // implements both `Read` and `Write`, so the reading half and the writing
    // half can each borrow the same socket.
    //
    // The reader collects bytes until a newline, however the bytes were split
    // into segments on the way. The writer gathers our replies and sends them
    // when we `flush`; see below for when.
    let mut from_client = BufReader::new(&connection);
    let mut to_client = BufWriter::new(&connection);
    let mut line = Vec::new();

    loop {
        line.clear();

        // Read up to and including the next `\n`, blocking until it arrives.
        // The `take` caps how much one line may hold: one byte more than
        // MAX_LINE leaves room for the newline, and a line that reaches the
        // cap without one is too long.
        let length = (&mut from_client)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;

        if length == 0 {
            // End of file: the client closed its sending side, either with a
            // full close or a half-close (`shutdown(Write)`). Everything it
            // sent has been answered, so we close our side too, which tells
            // the client that no more replies are coming.
            return to_client.flush();
        }

        if line.last() != Some(&b'\n') {
            if line.len() > MAX_LINE {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("sent a line longer than {MAX_LINE} bytes; connection closed"),
                ));
            }
            // The stream ended in the middle of a line. An unfinished
            // sentence is not answered: the newline is the only sign that the
            // client meant it to be complete.
            return to_client.flush();
        }

        // The reply is the line without its newline, uppercased, then `\n`.
        // A `\r` before the newline is part of the line and comes back as it
        // was, so a client that ends lines with `\r\n` gets `\r\n` back.
        line.pop();
        to_client.write_all(&transform::uppercase(&line))?;
        to_client.write_all(b"\n")?;

        // Send the replies gathered so far, unless another complete line is
        // already waiting in the reader's buffer. When a client sends many
        // lines in one segment, their replies then leave together in one
        // segment too, instead of one small segment each. The flush must
        // happen before `read_until` can block: a reply held back while we
        // wait for the client's next line would make both sides wait for
        // each other forever.
        if !from_client.buffer().contains(&b'\n') {
            to_client.flush()?;
        }
    }
    // `connection` is closed when this function returns and drops it.
}

/// Sends every line of `input` to the server at `host:port` and prints every
/// line the server sends back, then returns once the server closes the
/// connection.
///
/// The client sends all its lines first, then shuts down its sending side
/// (`shutdown(Write)`), then reads replies until the server closes. That
/// order cannot deadlock on the end of the conversation:
///
/// - The server closes the connection only when it reads end of file, and it
///   reads end of file only once the client has stopped sending. If the client
///   kept its sending side open while waiting for the server to close, each
///   would wait for the other forever. The half-close breaks that circle: it
///   says "no more lines" while leaving the other direction open for replies.
/// - Every reply the server sends meanwhile waits in this machine's receive
///   buffer until the client reads it.
///
/// The cost: replies are printed only after the input ends (at a terminal,
/// after Ctrl-D), and the replies to a very large input (megabytes) could
/// fill the buffers on both sides, so that the server stops reading while
/// the client is still writing; a client for large inputs would read replies
/// on a second thread while it sends.
pub fn run_client(
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    // `clientSocket = socket(AF_INET, SOCK_STREAM)` and
    // `clientSocket.connect((serverName, serverPort))`.
    let connection = client_setup::connect(host, port)?;

    // As in the server, `&TcpStream` is both a reader and a writer.
    let mut to_server = &connection;
    let mut line = Vec::new();
    let mut lines_sent = 0usize;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        // Every line goes out with its newline, the protocol's end-of-sentence
        // marker; a last line typed without one gets one added.
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        // `clientSocket.send(sentence.encode())`, as a loop that sends every
        // byte (Python's `sendall`).
        to_server.write_all(&line).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "sending line {} to the server failed: {error}",
                    lines_sent + 1
                ),
            )
        })?;
        lines_sent += 1;
    }

    // No more lines: shut down our sending side. The server reads end of
    // file, and we can still receive every reply on the other direction.
    connection.shutdown(Shutdown::Write)?;

    // From here on the server owes us only replies and a close. If it stops
    // sending for REPLY_TIMEOUT, something is wrong; say so rather than hang.
    connection.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut from_server = BufReader::new(&connection);
    let mut reply = Vec::new();
    let mut replies_received = 0usize;
    loop {
        reply.clear();
        // `modifiedSentence = clientSocket.recv(1024)`, except that we read
        // up to the next newline, however many reads that takes.
        match from_server.read_until(b'\n', &mut reply) {
            // The server closed the connection: every reply is in.
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                return Err(explain_reply_error(error, lines_sent, replies_received));
            }
        }
        replies_received += 1;
        // `print(modifiedSentence.decode())`, one reply per line. A last
        // reply without its newline is still printed on a line of its own.
        output.write_all(String::from_utf8_lossy(&reply).as_bytes())?;
        if !reply.ends_with(b"\n") {
            output.write_all(b"\n")?;
        }
    }
    output.flush()
    // `clientSocket.close()` happens when `connection` is dropped on return.
}

/// Turns a failed read of a reply into a message for the user.
fn explain_reply_error(error: io::Error, lines_sent: usize, replies_received: usize) -> io::Error {
    let message = if client_setup::is_timeout(&error) {
        format!(
            "the server sent nothing for {} seconds after the last line, with \
             {replies_received} of {lines_sent} lines answered. A server should answer every \
             line and close the connection once the client has finished sending.",
            REPLY_TIMEOUT.as_secs()
        )
    } else if error.kind() == ErrorKind::ConnectionReset {
        format!(
            "the server aborted the connection (connection reset), with {replies_received} \
             of {lines_sent} lines answered. The reference server does this when a line is \
             longer than {MAX_LINE} bytes."
        )
    } else {
        format!("receiving replies failed after {replies_received} replies: {error}")
    };
    io::Error::new(error.kind(), message)
}
