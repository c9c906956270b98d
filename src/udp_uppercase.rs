//! The `udp-uppercase` lab, textbook section 2.7.1 ("Socket Programming with
//! UDP").
//!
//! The client reads a sentence, sends it to the server in one datagram and
//! prints what comes back. The server uppercases every datagram it receives and
//! sends the result back to whoever sent it. Read this file beside the
//! textbook's `UDPServer.py` and `UDPClient.py` (the project's Python 3 copies
//! are in `fixtures/submissions/udp-uppercase/textbook/`): every socket call
//! below names the Python line it mirrors.
//!
//! Two facts about UDP shape the code:
//!
//! - There are no connections. The server has one socket for all its clients
//!   and learns whom to answer from the source address that comes with each
//!   datagram. One client cannot disturb another, because nothing about a
//!   client outlives its datagram.
//! - Delivery is not guaranteed, and when nobody listens on a port the sender
//!   is usually not told. So the client waits a bounded time for its reply
//!   instead of forever, which the textbook's client leaves out.

use std::io::{self, BufRead, ErrorKind, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::client_setup;
use crate::transform;

/// The largest datagram the server reads and the client accepts: the
/// textbook's `recvfrom(2048)`.
///
/// A longer datagram is cut to this size by the operating system and the rest
/// is lost, so a protocol built on UDP states its largest message up front.
pub const MAX_DATAGRAM: usize = 2048;

/// How long the client waits for the server's reply before giving up.
///
/// On one machine a reply takes well under a millisecond; two seconds leaves
/// room for a slow, busy or remote server while still telling a user quickly
/// that nothing is coming.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves forever: uppercases every datagram and sends it back to its sender.
///
/// `socket` is already bound, which is the textbook's
/// `serverSocket = socket(AF_INET, SOCK_DGRAM)` followed by
/// `serverSocket.bind(('', serverPort))`: Rust's `UdpSocket::bind` does both.
/// Taking a bound socket instead of a port lets the caller choose: the
/// `socklab` binary binds port 12000 as the textbook does, while tests bind
/// port 0, let the operating system pick a free port and read it back, so that
/// tests running side by side never fight over one port.
///
/// Returns only if the socket itself is unusable; nothing a client sends can
/// make it return.
pub fn serve(socket: UdpSocket) -> io::Result<()> {
    serve_datagrams(socket, "udp-uppercase", transform::uppercase)
}

/// The loop shared by every UDP lab's server: receive a datagram, compute the
/// reply with `reply_to`, send the reply to the datagram's sender, repeat.
///
/// `udp-count-s` is this same server with another transform, the textbook's
/// point that changing one line of the server gives a new service.
pub(crate) fn serve_datagrams(
    socket: UdpSocket,
    lab: &str,
    reply_to: fn(&[u8]) -> Vec<u8>,
) -> io::Result<()> {
    // The textbook prints 'The server is ready to receive' at this point. We
    // print to standard error so standard output stays free for data, and we
    // print the real address: with port 0 that is the only way to learn it.
    eprintln!("{lab} server listening on {}", socket.local_addr()?);

    // One buffer serves every datagram: `recv_from` overwrites it each time
    // and tells us how many bytes of it are this datagram's.
    let mut buffer = [0u8; MAX_DATAGRAM];
    loop {
        // `message, clientAddress = serverSocket.recvfrom(2048)`.
        //
        // This blocks until a datagram arrives, from any client, and returns
        // its length and its source address: the client's IP address and the
        // port its operating system picked for it.
        let (length, client_address) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error) => {
                // On Linux this hardly ever happens. On Windows, a datagram we
                // sent earlier to a client that had already gone makes the
                // *next* `recv_from` fail with "connection reset". Either way
                // the failure belongs to one datagram, not to the server, so
                // we note it and wait for the next one. The Python server
                // would stop with an exception here.
                eprintln!("{lab} server: receiving a datagram failed ({error}); still serving");
                continue;
            }
        };
        let message = &buffer[..length];

        // The textbook's `message.decode()` raises an exception, and stops the
        // server for every client, when a datagram is not valid UTF-8. Our
        // transform never fails: bytes that are not text pass through
        // unchanged. We still say so, since it usually means a client has a bug.
        if std::str::from_utf8(message).is_err() {
            eprintln!(
                "{lab} server: the datagram from {client_address} is not valid UTF-8; \
                 answering it anyway, with the bytes that are not text left unchanged"
            );
        }

        // `modifiedMessage = message.decode().upper()`.
        let reply = reply_to(message);

        // `serverSocket.sendto(modifiedMessage.encode(), clientAddress)`.
        //
        // The reply goes to the address the datagram came from; that address
        // is the only thing that tells two clients apart. Sending can fail for
        // reasons that concern one client only (its machine is unreachable, or
        // the operating system briefly has no buffer for it): the client will
        // time out and may try again, and the server carries on.
        if let Err(error) = socket.send_to(&reply, client_address) {
            eprintln!(
                "{lab} server: sending the reply to {client_address} failed ({error}); \
                 still serving"
            );
        }
    }
}

/// Asks for a sentence, sends it to the server at `host:port` in one datagram,
/// waits up to [`REPLY_TIMEOUT`] for the reply and prints it.
///
/// Returns an error, with a message meant for the user, when no reply arrives
/// in time or when the server's machine reports that nothing listens there.
pub fn run_client(
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    // `message = input('Input lowercase sentence:')`.
    let sentence = client_setup::read_sentence(input, output)?;
    let server_address = client_setup::server_address(host, port)?;

    // `clientSocket = socket(AF_INET, SOCK_DGRAM)`.
    //
    // Python binds the client's socket implicitly, on its first `sendto`, to
    // a port the operating system chooses. Rust creates and binds in one call,
    // so we ask for that explicitly: port 0 means "any free port". That port is
    // the source port of our datagram, and the server replies to it.
    let unspecified_address = match server_address {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(unspecified_address)?;

    // `clientSocket.sendto(message.encode(), (serverName, serverPort))`.
    //
    // The sentence travels without its newline: a datagram has its own
    // boundaries, so it needs no end marker. Success only means the datagram
    // left this machine; UDP never confirms delivery.
    socket.send_to(&sentence, server_address).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot send the sentence to {server_address}: {error}"),
        )
    })?;

    // The textbook's client would wait forever if the datagram or its reply
    // were lost, or if no server were running. A time limit on reading turns
    // "forever" into an error after REPLY_TIMEOUT.
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;

    // `modifiedMessage, serverAddress = clientSocket.recvfrom(2048)`.
    //
    // Like the textbook we take the first datagram that arrives and do not
    // check that it came from the server. A stricter client would compare the
    // source address with `server_address` and ignore strangers.
    let mut buffer = [0u8; MAX_DATAGRAM];
    let (length, _server_address) = socket
        .recv_from(&mut buffer)
        .map_err(|error| explain_missing_reply(error, host, port))?;

    // `print(modifiedMessage.decode())`. A reply that is not valid UTF-8 is
    // shown with replacement characters rather than rejected: the user should
    // see what the server sent, even when it is wrong.
    output.write_all(String::from_utf8_lossy(&buffer[..length]).as_bytes())?;
    output.write_all(b"\n")?;
    output.flush()

    // `clientSocket.close()`: Rust closes `socket` when it goes out of scope
    // here, on every path, including the early returns of `?`.
}

/// Turns a failed `recv_from` into a message that says what probably
/// happened and what to check.
fn explain_missing_reply(error: io::Error, host: &str, port: u16) -> io::Error {
    let message = if client_setup::is_timeout(&error) {
        format!(
            "the server did not answer within {} seconds: no reply came from {host} \
             on UDP port {port}. Is the server running, and on that port? (Over UDP a \
             client is usually not told that nobody is listening; it can only wait.)",
            REPLY_TIMEOUT.as_secs()
        )
    } else if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
    ) {
        // The server's machine answered our datagram with an ICMP "port
        // unreachable" message, which the operating system may report on the
        // next receive: a refusal on Linux, a reset on Windows.
        format!(
            "nothing is listening on UDP port {port} at {host} (the port is unreachable). \
             Is the server running, and on that port?"
        )
    } else {
        format!("receiving the reply from {host} on UDP port {port} failed: {error}")
    };
    io::Error::new(error.kind(), message)
}
