//! # Lab: a UDP server that counts the letter s
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, section 2.7.1,
//! "Socket Programming with UDP", and the modification the textbook suggests
//! for its `UDPServer.py`: instead of uppercasing each sentence, answer with
//! the number of times the letter s occurs in it.
//!
//! - [`serve`]: for every datagram that arrives, count the letters `s` and `S`
//!   in it and send the count back, as decimal digits and nothing else, to the
//!   address it came from; keep serving forever. `mississippi` gets `4`.
//!
//! The sockets are those of the UDP uppercase server; only the line that
//! computes the reply changes. The program in `src/bin/` reads `--port` and
//! `--bind`, binds the server's socket and calls [`serve`]. The handout,
//! `README.md`, has the protocol, how to run the server by hand, and hints.
//!
//! Replace the `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what it
//! sent, what it expected and what came back.

use std::io;
use std::net::UdpSocket;

/// Serves forever: answers every datagram with the number of letters s (in
/// either case) in it, sent back to the address the datagram came from.
///
/// `socket` is already bound to the server's port: the server program did the
/// textbook's `serverSocket = socket(AF_INET, SOCK_DGRAM)` and
/// `serverSocket.bind(('', serverPort))` for you, so that tests can choose the
/// port. Return only if the socket itself fails: nothing a client sends may
/// stop the server.
pub fn serve(socket: UdpSocket) -> io::Result<()> {
    // The textbook prints 'The server is ready to receive' here. Standard error
    // keeps standard output free, and the address shows the real port.
    eprintln!("udp-count-s server listening on {}", socket.local_addr()?);

    // TODO: Loop forever (`loop { ... }`), as the textbook's `while True:`.
    // TODO: Receive a datagram and its sender's address with
    //       `socket.recv_from(&mut buffer)`, into a buffer of 2048 bytes (the
    //       textbook's `recvfrom(2048)`).
    // TODO: Count the bytes `b's'` and `b'S'` among the datagram's bytes. The
    //       bytes may not be valid UTF-8, and counting bytes never fails.
    // TODO: Send the count back as decimal digits (`count.to_string()`), with
    //       no spaces or newline, to the address `recv_from` returned.
    // TODO: When a receive or a send fails, print the error with `eprintln!`
    //       and carry on with the next datagram instead of returning.
    todo!("receive a datagram, count its letters s, send the count back to its sender, and repeat")
}
