//! The `tcp-uppercase` lab, textbook section 2.7.2 ("Socket Programming with
//! TCP").
//!
//! The client connects, sends one sentence and prints the reply. The server
//! accepts a connection, reads the sentence, sends it back uppercased, closes
//! the connection and accepts the next client. Read this file beside the
//! textbook's `TCPServer.py` and `TCPClient.py` (the project's Python 3
//! copies are in `fixtures/submissions/tcp-uppercase/textbook/`): every socket
//! call below names the Python line it mirrors.
//!
//! Unlike UDP, TCP gives each client its own connection, and the server has two
//! kinds of socket: one *listening* socket that only accepts new connections
//! (the textbook's "welcoming socket"), and one *connected* socket per client
//! that carries that client's bytes.
//!
//! TCP carries a stream of bytes, not messages: nothing marks where a sentence
//! ends. This lab's protocol sidesteps the question the way the textbook does:
//! the client sends its sentence in one short write and the server reads once,
//! up to 1024 bytes. That works for short sentences on a quiet network. The
//! `tcp-lines` lab shows the robust way, with a newline at the end of every
//! sentence.

use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::client_setup;
use crate::transform;

/// The most the server reads from a connection: the textbook's `recv(1024)`.
/// A longer sentence is cut at this size, or wherever the network happened to
/// split it.
pub const MAX_SENTENCE: usize = 1024;

/// How long the server waits for a connected client to send its sentence.
///
/// This server serves one client at a time, as the textbook's does, so a
/// client that connects and then sends nothing would keep every other client
/// waiting forever. The textbook's server has exactly that weakness; a time
/// limit bounds the damage.
pub const SENTENCE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the client waits for the server's reply (and for the server to
/// close the connection after it).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves forever: one client at a time, one sentence per connection.
///
/// `listener` is already bound and listening. Rust's `TcpListener::bind` does
/// the work of three textbook lines:
/// `serverSocket = socket(AF_INET, SOCK_STREAM)`,
/// `serverSocket.bind(('', serverPort))` and `serverSocket.listen(1)` (with a
/// longer queue of waiting connections than the textbook's 1). Taking a bound
/// listener rather than a port lets tests bind port 0 and read back the free
/// port the operating system picked.
///
/// Returns only if the listener itself is unusable; nothing a client does can
/// make it return.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // The textbook prints 'The server is ready to receive' here. Standard
    // error keeps standard output free for data; the real address matters
    // when the caller bound port 0.
    eprintln!(
        "tcp-uppercase server listening on {}",
        listener.local_addr()?
    );

    loop {
        // `connectionSocket, addr = serverSocket.accept()`.
        //
        // This blocks until a client has completed TCP's three-way handshake,
        // then hands us a new socket connected to that one client. The
        // listening socket stays as it was, ready for the next client.
        let (connection, client_address) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // A client can vanish between its handshake and our accept,
                // and the system can run out of resources for a moment.
                // Neither is a reason to stop serving everybody else.
                eprintln!(
                    "tcp-uppercase server: accepting a connection failed ({error}); still serving"
                );
                continue;
            }
        };

        // Whatever goes wrong with this client (it sends nothing, it resets
        // the connection, it goes away before the reply) concerns this client
        // only: report it and move on to the next. The textbook's server
        // would stop with an exception instead.
        if let Err(error) = answer_one_sentence(connection) {
            eprintln!("tcp-uppercase server: client {client_address}: {error}; still serving");
        }
    }
}

/// Reads one sentence from a connected client, sends it back uppercased and
/// closes the connection.
fn answer_one_sentence(mut connection: TcpStream) -> io::Result<()> {
    connection.set_read_timeout(Some(SENTENCE_TIMEOUT))?;

    // `sentence = connectionSocket.recv(1024).decode()`.
    //
    // One `read` returns whatever bytes have arrived so far, up to 1024; it
    // waits only while nothing has arrived yet. A return of 0 bytes means end
    // of file: the client closed the connection without sending anything.
    let mut buffer = [0u8; MAX_SENTENCE];
    let length = match connection.read(&mut buffer) {
        Ok(0) => {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "closed the connection without sending a sentence",
            ));
        }
        Ok(length) => length,
        Err(error) if client_setup::is_timeout(&error) => {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!(
                    "sent no sentence within {} seconds, so its connection was closed \
                     to let the next client in",
                    SENTENCE_TIMEOUT.as_secs()
                ),
            ));
        }
        // Typically "connection reset by peer": the client aborted.
        Err(error) => return Err(error),
    };

    // `capitalizedSentence = sentence.upper()`. Bytes that are not valid
    // UTF-8, where the textbook's `decode()` would raise an exception, pass
    // through unchanged.
    let reply = transform::uppercase(&buffer[..length]);

    // `connectionSocket.send(capitalizedSentence.encode())`.
    //
    // Python's `send` may send only part of its argument and returns how much
    // it sent; `write_all` keeps writing until every byte is handed to the
    // operating system. Python's `sendall` is the equivalent.
    connection.write_all(&reply)?;

    // `connectionSocket.close()`: `connection` is dropped here, which closes
    // it. Closing is also the end-of-reply marker of this protocol: the client
    // reads until the connection closes.
    //
    // If the client sent more than the one read took in, closing with those
    // bytes unread makes the operating system abort the connection with a
    // reset, which can destroy the reply before the client reads it: one more
    // reason why, in this protocol, a sentence must fit in a single read.
    Ok(())
}

/// Asks for a sentence, connects to the server at `host:port`, sends the
/// sentence and prints `From Server: ` followed by the reply.
///
/// Returns an error, with a message meant for the user, when the server cannot
/// be reached, or does not reply and close the connection within
/// [`REPLY_TIMEOUT`].
pub fn run_client(
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    // `sentence = input('Input lowercase sentence:')`.
    //
    // The textbook connects first and asks for the sentence afterwards. We ask
    // first: the server serves one client at a time, and a connection held
    // open while a person types would keep every other client waiting.
    let sentence = client_setup::read_sentence(input, output)?;
    if sentence.is_empty() {
        // Sending zero bytes over TCP sends nothing at all, so the server's
        // `recv` would simply keep waiting. Say so instead of hanging.
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "the sentence is empty, and over TCP an empty send transmits nothing: \
             the server would wait for a sentence that never comes. Type at least one character.",
        ));
    }

    // `clientSocket = socket(AF_INET, SOCK_STREAM)` and
    // `clientSocket.connect((serverName, serverPort))`.
    let mut connection = client_setup::connect(host, port)?;

    // `clientSocket.send(sentence.encode())`.
    //
    // The sentence goes without its newline, in one write, as the handout's
    // protocol says. We do not shut down our sending side afterwards: the
    // textbook's client does not, and the server must not depend on it.
    connection.write_all(&sentence).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("the server closed the connection before the sentence was sent: {error}"),
        )
    })?;

    // `modifiedSentence = clientSocket.recv(1024)`.
    //
    // The textbook reads once. A reply can arrive in several pieces, though,
    // so we read until the server closes the connection, which in this
    // protocol marks the end of the reply; `read_to_end` does exactly that.
    // The time limit keeps a server that never answers, or never closes, from
    // hanging the client.
    connection.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut reply = Vec::new();
    let outcome = connection.read_to_end(&mut reply);

    // `print('From Server: ', modifiedSentence.decode())`. Whatever arrived is
    // printed, even if the connection then failed: the user should see it.
    if outcome.is_ok() || !reply.is_empty() {
        output.write_all(b"From Server: ")?;
        output.write_all(String::from_utf8_lossy(&reply).as_bytes())?;
        output.write_all(b"\n")?;
        output.flush()?;
    }

    // `clientSocket.close()` happens when `connection` is dropped on return.
    match outcome {
        Ok(_) => Ok(()),
        Err(error) if client_setup::is_timeout(&error) => {
            let message = if reply.is_empty() {
                format!(
                    "the server accepted the connection but sent no reply within {} seconds",
                    REPLY_TIMEOUT.as_secs()
                )
            } else {
                format!(
                    "the server replied but did not close the connection within {} seconds; \
                     in this lab the server closes the connection after its reply",
                    REPLY_TIMEOUT.as_secs()
                )
            };
            Err(io::Error::new(ErrorKind::TimedOut, message))
        }
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("receiving the reply failed: {error}"),
        )),
    }
}
