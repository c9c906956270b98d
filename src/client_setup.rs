//! What every lab's client does before and around its socket calls: ask the
//! user for a sentence, find the server's address, and connect over TCP with a
//! time limit.
//!
//! The textbook's clients do these steps in one line each and let Python raise
//! an exception when anything goes wrong. Here each step turns the operating
//! system's terse error ("Connection refused (os error 111)") into a sentence
//! that says what probably happened and what to try next.

use std::io::{self, BufRead, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a TCP client waits for the server to accept its connection.
///
/// On a single machine a connection is accepted (or refused) at once; the limit
/// only matters when `--host` names a machine that drops the connection attempt
/// silently, where the operating system would otherwise keep trying for minutes.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints the textbook's prompt and reads one sentence, without its line ending.
///
/// This is the textbook's `input('Input lowercase sentence:')`. Like Python's
/// `input`, it writes the prompt without a newline and strips the newline the
/// user typed; it also strips the `\r` of a Windows line ending, which Python
/// does too when it reads standard input in text mode.
///
/// The sentence is read as bytes, not as a `String`: a client should send
/// whatever the user typed, even bytes that are not valid UTF-8, and let the
/// server decide what to do with them.
pub(crate) fn read_sentence(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<Vec<u8>> {
    output.write_all(b"Input lowercase sentence:")?;
    // Standard output is usually buffered until a newline; without this flush a
    // user at a terminal would not see the prompt before typing.
    output.flush()?;

    let mut sentence = Vec::new();
    if input.read_until(b'\n', &mut sentence)? == 0 {
        // Python's `input()` raises `EOFError` here. An empty line ("\n") is a
        // real, empty sentence; no line at all means there is nothing to send.
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "standard input ended before a sentence was typed",
        ));
    }
    if sentence.ends_with(b"\n") {
        sentence.pop();
        if sentence.ends_with(b"\r") {
            sentence.pop();
        }
    }
    Ok(sentence)
}

/// Finds the socket address (IP address and port) of the server.
///
/// The textbook passes `(serverName, serverPort)` straight to `sendto` or
/// `connect`, and Python looks the name up there. A name like `localhost` may
/// have both an IPv6 and an IPv4 address; the textbook's sockets are
/// `AF_INET`, IPv4 only, so an IPv4 address is preferred to match a server
/// written the textbook's way (which listens on IPv4 only).
pub(crate) fn server_address(host: &str, port: u16) -> io::Result<SocketAddr> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot find the address of host `{host}`: {error}"),
            )
        })?
        .collect();
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| {
            io::Error::new(
                ErrorKind::NotFound,
                format!("host `{host}` has no address to connect to"),
            )
        })
}

/// Opens a TCP connection to the server: the textbook's
/// `clientSocket = socket(AF_INET, SOCK_STREAM)` followed by
/// `clientSocket.connect((serverName, serverPort))`.
///
/// In Rust the socket is created by the call that connects it, so a
/// `TcpStream` is never half made: if this returns, the three-way handshake is
/// done and the server's operating system has queued the connection for its
/// `accept`.
pub(crate) fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let address = server_address(host, port)?;
    TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(|error| {
        let message = match error.kind() {
            // The server's machine answered the handshake with a reset: no
            // program is listening on that port.
            ErrorKind::ConnectionRefused => format!(
                "nothing is listening on TCP port {port} at {host} (connection refused). \
                 Is the server running, and on that port?"
            ),
            ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
                "no answer from {host} on TCP port {port} within {} seconds. \
                 Is the host name right, and is a firewall dropping the connection?",
                CONNECT_TIMEOUT.as_secs()
            ),
            _ => format!("cannot connect to {host} on TCP port {port}: {error}"),
        };
        io::Error::new(error.kind(), message)
    })
}

/// True when a read that had a time limit gave up because the limit passed.
///
/// A blocking read with `set_read_timeout` reports an expired limit as
/// `WouldBlock` on Unix and as `TimedOut` on Windows; both mean "nothing
/// arrived in time".
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence_from(typed: &[u8]) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut output = Vec::new();
        let sentence = read_sentence(&mut &typed[..], &mut output)?;
        Ok((sentence, output))
    }

    #[test]
    fn read_sentence_prompts_and_strips_the_line_ending() {
        let (sentence, prompt) = sentence_from(b"hello\r\nsecond line\n").unwrap();
        assert_eq!(sentence, b"hello");
        assert_eq!(prompt, b"Input lowercase sentence:");
        assert_eq!(sentence_from(b"no newline").unwrap().0, b"no newline");
        assert_eq!(sentence_from(b"\n").unwrap().0, b"");
        assert_eq!(sentence_from(b"a\xffb\n").unwrap().0, b"a\xffb");
    }

    #[test]
    fn read_sentence_reports_empty_input() {
        let error = sentence_from(b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
    }

    #[test]
    fn server_address_prefers_ipv4() {
        let address = server_address("127.0.0.1", 12000).unwrap();
        assert_eq!(address, SocketAddr::from(([127, 0, 0, 1], 12000)));
        assert!(server_address("::1", 1).unwrap().is_ipv6());
    }
}
