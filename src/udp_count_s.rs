//! The `udp-count-s` lab: the textbook's suggested change to the UDP server of
//! section 2.7.1. Instead of uppercasing the sentence, the server answers with
//! the number of times the letter s (either case) occurs in it, as decimal
//! digits and nothing else: `mississippi` gets `4`.
//!
//! Everything about the sockets is the same as in [`udp_uppercase`]; only the
//! line that computes the reply changes. That is the lesson of the exercise:
//! the socket calls form the skeleton, and the service is one line inside it.
//! So this module reuses that skeleton rather than repeating it.

use std::io::{self, BufRead, Write};
use std::net::UdpSocket;

use crate::transform;
use crate::udp_uppercase;

/// Serves forever: answers every datagram with the count of the letter s in
/// it, sent back to the datagram's sender.
///
/// `socket` is already bound (see [`udp_uppercase::serve`] for why the server
/// takes a bound socket rather than a port).
pub fn serve(socket: UdpSocket) -> io::Result<()> {
    // In the textbook's UDPServer.py this is the one changed line:
    // `modifiedMessage = message.decode().upper()` becomes a count of the
    // letter s.
    udp_uppercase::serve_datagrams(socket, "udp-count-s", transform::count_s)
}

/// Asks for a sentence, sends it in one datagram and prints the server's
/// answer.
///
/// The client does not know or care what the server computes: it sends a
/// sentence and prints the reply, so the `udp-uppercase` client is this lab's
/// client unchanged.
pub fn run_client(
    host: &str,
    port: u16,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    udp_uppercase::run_client(host, port, input, output)
}
