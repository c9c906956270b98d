//! Helpers shared by the tests: servers on free ports, peers with time limits,
//! child processes that are always killed, and readiness without sleeping.

#![allow(dead_code)] // Not every helper is used on every platform.

use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for any single event before it fails. Generous,
/// because a loaded CI machine is slow; a passing test never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `serve` on its own thread with a UDP socket bound to a free loopback
/// port, and returns that port's address. The thread serves until the test
/// process ends.
pub fn start_udp_server(serve: fn(UdpSocket) -> io::Result<()>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP server socket");
    let address = socket.local_addr().unwrap();
    thread::spawn(move || serve(socket));
    address
}

/// Runs `serve` on its own thread with a TCP listener on a free loopback port.
/// The listener is listening before this returns, so clients may connect at
/// once.
pub fn start_tcp_server(serve: fn(TcpListener) -> io::Result<()>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP listener");
    let address = listener.local_addr().unwrap();
    thread::spawn(move || serve(listener));
    address
}

/// A UDP socket on a free loopback port, playing a client, that gives up on a
/// reply after [`PATIENCE`].
pub fn udp_peer() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP client socket");
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

/// Receives one datagram on `socket` and checks it came from `server`.
pub fn receive_from(socket: &UdpSocket, server: SocketAddr) -> Vec<u8> {
    let mut buffer = [0u8; 65536];
    let (length, sender) = socket
        .recv_from(&mut buffer)
        .expect("the server should reply in time");
    assert_eq!(
        sender, server,
        "the reply should come from the server's address"
    );
    buffer[..length].to_vec()
}

/// Sends `message` to a UDP server from a fresh socket and returns the reply.
pub fn udp_exchange(server: SocketAddr, message: &[u8]) -> Vec<u8> {
    let socket = udp_peer();
    socket.send_to(message, server).unwrap();
    receive_from(&socket, server)
}

/// Connects to a TCP server; reads give up after [`PATIENCE`].
pub fn tcp_connect(server: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(server).expect("connect to the server");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads until the server closes the connection.
pub fn read_to_close(mut stream: &TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("the server should reply and close the connection in time");
    reply
}

/// The two transport protocols, for finding free ports and bound sockets.
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// A loopback port that was free a moment ago: bind port 0, note the port the
/// system chose, release it. Another process could take it before the test
/// uses it; that race is tiny, and only tests of programs that cannot be told
/// to bind port 0 themselves (the textbook's Python) need this.
pub fn free_port(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
        Protocol::Udp => UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    }
}

/// A child process that is killed and reaped when the guard goes out of scope,
/// so a failing test never leaves a server running.
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child }
    }

    /// Fails the test, with the child's exit status and standard error, if the
    /// child has exited.
    fn check_running(&mut self, waiting_for: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the server exited ({status}) before {waiting_for}; its stderr:\n{stderr}");
        }
    }

    /// Waits until the child has a socket bound to `port`, as listed in
    /// `/proc/net`, polling without sleeping until [`PATIENCE`] runs out.
    ///
    /// This notices readiness without sending the server anything, so no test
    /// request is spent on a probe.
    pub fn wait_until_bound(&mut self, protocol: Protocol, port: u16) {
        let deadline = Instant::now() + PATIENCE;
        while !port_is_bound(protocol, port) {
            self.check_running(&format!("binding {protocol:?} port {port}"));
            assert!(
                Instant::now() < deadline,
                "nothing bound {protocol:?} port {port} within {PATIENCE:?}"
            );
            thread::yield_now();
        }
    }

    /// Reads the `socklab server` announcement from the child's standard error
    /// (`<lab> server listening on <address>`) and returns the address.
    ///
    /// The server prints it right after binding, so once it is read the server
    /// is ready, and with `--port 0` it is the only way to learn the port. The
    /// rest of standard error is drained on a thread so that a chatty server
    /// never blocks on a full pipe.
    pub fn announced_address(&mut self) -> SocketAddr {
        let stderr: ChildStderr = self.child.stderr.take().expect("stderr must be piped");
        let mut stderr = BufReader::new(stderr);
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let Some((_, address)) = line.trim_end().split_once(" listening on ") else {
            self.check_running("announcing its address");
            panic!("unexpected first line from the server: {line:?}");
        };
        let address = address.parse().expect("the announced address should parse");
        thread::spawn(move || io::copy(&mut stderr, &mut io::sink()));
        address
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `socklab server <lab>` on a system-chosen loopback port and returns
/// the guarded child with the server's address.
pub fn spawn_socklab_server(lab: &str) -> (ChildGuard, SocketAddr) {
    let child = Command::new(env!("CARGO_BIN_EXE_socklab"))
        .args(["server", lab, "--bind", "127.0.0.1", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start socklab server");
    let mut server = ChildGuard::new(child);
    let address = server.announced_address();
    (server, address)
}

/// True if `/proc/net` lists a socket of `protocol` bound to `port` and ready
/// for clients: a listening socket for TCP, an unconnected one for UDP.
fn port_is_bound(protocol: Protocol, port: u16) -> bool {
    let (files, ready_state) = match protocol {
        Protocol::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], Some("0A")), // TCP_LISTEN
        Protocol::Udp => (["/proc/net/udp", "/proc/net/udp6"], None),
    };
    let local_suffix = format!(":{port:04X}");
    files.iter().any(|file| {
        let Ok(table) = std::fs::read_to_string(file) else {
            return false; // No IPv6 on this machine, for instance.
        };
        // Each line after the header: `sl local_address rem_address st ...`,
        // addresses as hex `IP:PORT`.
        table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, local, remote, state, ..] => {
                    local.ends_with(&local_suffix)
                        && remote.ends_with(":0000")
                        && ready_state.is_none_or(|ready| *state == ready)
                }
                _ => false,
            }
        })
    })
}
