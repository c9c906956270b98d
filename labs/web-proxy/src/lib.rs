//! # Lab: a caching web proxy
//!
//! Kurose & Ross, *Computer Networking: A Top-Down Approach*, chapter 2,
//! socket programming assignment "Web Proxy". The assignment's skeleton is
//! `ProxyServer.py`; here you write the proxy in Rust, with the same socket
//! calls from `std::net`.
//!
//! - [`serve`]: accept a browser's connection, read its request, find where
//!   it wants to go (`GET /www.example.com/index.html HTTP/1.1`, or a
//!   browser's own `GET http://www.example.com/index.html HTTP/1.1`), answer
//!   from the cache when the URL is there, otherwise fetch it from the origin
//!   server, pass the response on byte for byte and keep a copy in the cache;
//!   then accept the next connection, forever.
//!
//! The program in `src/bin/` reads `--port` and `--bind`, creates the
//! listening socket and calls [`serve`] with the folder `cache` (in the
//! folder it runs in) for the cached responses. The handout, `README.md`,
//! has the two request forms, how to try the proxy with curl, and hints.
//!
//! Replace the `todo!` with your code; the `// TODO` lines above it are the
//! steps. Then run `cargo test` in this directory: every test says what it
//! sent, what the origin saw and how often, and what came back.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;

/// The assignment's port.
pub const DEFAULT_PORT: u16 = 8888;

/// Serves as a caching proxy forever, keeping responses in `cache`.
///
/// `listener` is already listening: the program did
/// `tcpSerSock = socket(AF_INET, SOCK_STREAM)`, `tcpSerSock.bind(...)` and
/// `tcpSerSock.listen(...)` for you. Return only if the listener itself
/// fails: nothing a client or an origin does may stop the proxy.
pub fn serve(listener: TcpListener, cache: PathBuf) -> io::Result<()> {
    eprintln!(
        "web-proxy listening on {}, caching in {}",
        listener.local_addr()?,
        cache.display()
    );

    // TODO: Create the cache folder (`std::fs::create_dir_all`), then loop
    //       forever and `accept()` the next connection.
    // TODO: Read the request until its head has arrived: a blank line
    //       ("\r\n\r\n") ends it, and one `read` may return only part of it.
    // TODO: Take the target from the first line (its second word) and read
    //       where it goes: `/host[:port]/path` (the assignment's form) or
    //       `http://host[:port]/path` (a browser's): the host runs up to the
    //       next '/', the port is 80 when none is given, and the path is the
    //       rest, with its leading '/'.
    // TODO: Make a cache file name from host, port and path (only letters,
    //       digits, '.', '-' and '_': no URL may reach outside `cache`). When
    //       the file exists, send its bytes (`std::fs::read`, `write_all`)
    //       and do not contact the origin: that is a cache hit.
    // TODO: Otherwise connect to the origin (`TcpStream::connect((host,
    //       port))`), send it "GET <path> HTTP/1.0\r\nHost: <host>\r\n\r\n",
    //       and read its whole response: `read_to_end`, until the origin
    //       closes, never a single `read`. Send the client exactly those
    //       bytes, once, and when the response is a `200` write the same
    //       bytes to the cache file.
    // TODO: When the origin cannot be reached, send the client
    //       "HTTP/1.1 502 Bad Gateway\r\n\r\n" (and a small page) instead.
    //       Then close the client's connection (drop the `TcpStream`): the
    //       browser reads until the proxy closes it.
    // TODO: Serve each client on a thread of its own (`std::thread::spawn`),
    //       so a slow client does not hold up the others, and when anything
    //       fails for one client print it with `eprintln!` and keep serving.
    todo!("accept, read the request, answer from the cache or fetch from the origin, and repeat")
}
