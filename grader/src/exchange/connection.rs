//! The grader's sockets towards the student's server: opening them (TCP
//! connect, UDP bind), sending (in segments, with pauses), reading, and
//! closing without leaving the lab's port in TIME_WAIT. What a reply must
//! be is `reply.rs`; what it means is the protocol's.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use super::Clock;
use super::failure::Failure;
use super::transcript::Transcript;
use crate::cell::{CELL_HOST, Cell, CellProcess};
use crate::lab::{Send, SocketName, Transport};
use crate::outcome::TranscriptEvent;

pub(super) enum Connection {
    Tcp {
        stream: TcpStream,
        /// Bytes sent that no reply has answered yet.
        unanswered: Vec<u8>,
        /// Bytes received and not yet matched by an expectation.
        received: Vec<u8>,
        /// The server closed its side.
        at_eof: bool,
    },
    Udp {
        socket: UdpSocket,
        /// Datagrams sent that no reply has answered yet, oldest first.
        unanswered: VecDeque<Vec<u8>>,
    },
}

/// What one blocking read brought.
pub(super) enum ReadResult {
    Data(usize),
    Eof,
    Reset,
    TimedOut,
}

/// The grader's named sockets of one test.
pub(super) struct Sockets<'a> {
    cell: &'a Cell,
    /// The student's server, in a server test: a wait for a datagram ends
    /// when it has died (a dead server's TCP connections end by themselves).
    pub(super) server: Option<&'a CellProcess>,
    pub(super) target: SocketAddr,
    pub(super) clock: Clock,
    pub(super) transcript: Transcript,
    open: HashMap<SocketName, Connection>,
}

/// Closes a connection without leaving the server's port in TIME_WAIT.
///
/// Whoever closes a TCP connection first keeps it in TIME_WAIT for a minute,
/// and a server without SO_REUSEADDR (the textbook's) cannot bind its port
/// again until then. When the server closed first, the grader answers with a
/// reset, which ends the connection on both sides at once; otherwise the
/// grader is the one to close first and the TIME_WAIT is on its own side.
/// (The rest of the TIME_WAIT policy is in `run/program.rs`.)
fn close_quietly(connection: Connection) {
    let Connection::Tcp { stream, at_eof, .. } = connection else {
        return;
    };
    // The server may have closed after a reply no step read past: look.
    let server_closed = at_eof || {
        let _ = stream.set_nonblocking(true);
        matches!((&stream).read(&mut [0u8; 1]), Ok(0))
    };
    if server_closed {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
}

impl<'a> Sockets<'a> {
    pub(super) fn new(
        cell: &'a Cell,
        server: Option<&'a CellProcess>,
        port: u16,
        clock: Clock,
        transcript: Transcript,
    ) -> Sockets<'a> {
        Sockets {
            cell,
            server,
            target: SocketAddr::new(CELL_HOST, port),
            clock,
            transcript,
            open: HashMap::new(),
        }
    }

    /// Closes every socket still open, as a `close` step would.
    pub(super) fn close_all(&mut self) {
        for (_, connection) in self.open.drain() {
            close_quietly(connection);
        }
    }

    pub(super) fn note(&self, socket: &str, text: impl Into<String>) {
        self.transcript.note(socket, text);
    }

    pub(super) fn get(&mut self, socket: &str) -> &mut Connection {
        self.open
            .get_mut(socket)
            .expect("sockets are validated to be opened first")
    }

    pub(super) fn open(&mut self, name: &str, transport: Transport) -> Result<(), Failure> {
        let socket = self
            .cell
            .socket(transport)
            .map_err(|err| Failure::grader("creating a socket", err))?;
        let port = self.target.port();
        let connection = match transport {
            Transport::Tcp => {
                let wait = self.clock.remaining(None).max(Duration::from_millis(1));
                if let Err(err) = socket.connect_timeout(&self.target.into(), wait) {
                    let message = match err.kind() {
                        ErrorKind::ConnectionRefused => format!(
                            "The grader could not connect to your server on port {port}: the connection was refused, so nothing is listening there."
                        ),
                        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
                            "The grader could not connect to your server on port {port} within the time limit."
                        ),
                        _ => format!(
                            "The grader could not connect to your server on port {port}: {err}."
                        ),
                    };
                    self.note(name, format!("connect to port {port} failed: {err}"));
                    return Err(Failure::fail(message));
                }
                let stream = TcpStream::from(socket);
                // Each write goes out as its own segment, so split sends really split.
                let _ = stream.set_nodelay(true);
                self.note(name, format!("connected to port {port}"));
                Connection::Tcp {
                    stream,
                    unanswered: Vec::new(),
                    received: Vec::new(),
                    at_eof: false,
                }
            }
            Transport::Udp => {
                socket
                    .bind(&SocketAddr::new(CELL_HOST, 0).into())
                    .map_err(|err| Failure::grader("binding a UDP socket", err))?;
                let socket = UdpSocket::from(socket);
                self.note(name, "opened a UDP socket");
                Connection::Udp {
                    socket,
                    unanswered: VecDeque::new(),
                }
            }
        };
        self.open.insert(name.to_string(), connection);
        Ok(())
    }

    /// Sends `bytes` as `send` says: one datagram, or the stream in its
    /// segments with the pauses between them.
    pub(super) fn send(&mut self, send: &Send, bytes: Vec<u8>) -> Result<(), Failure> {
        let target = self.target;
        let transcript = self.transcript.clone();
        let clock = self.clock;
        match self.get(&send.socket) {
            Connection::Udp { socket, unanswered } => {
                let result = socket.send_to(&bytes, target);
                unanswered.push_back(bytes.clone());
                transcript.record(&send.socket, TranscriptEvent::Sent(bytes));
                result
                    .map(drop)
                    .map_err(|err| Failure::fail(format!("Sending the datagram failed: {err}.")))
            }
            Connection::Tcp {
                stream, unanswered, ..
            } => {
                let mut rest = bytes.as_slice();
                let mut sizes = send.segments.iter().peekable();
                while !rest.is_empty() || sizes.peek().is_none() {
                    let size = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
                    let (segment, after) = rest.split_at(size);
                    let result = stream.write_all(segment);
                    unanswered.extend_from_slice(segment);
                    transcript.record(&send.socket, TranscriptEvent::Sent(segment.to_vec()));
                    if let Err(err) = result {
                        return Err(Failure::fail(format!(
                            "Sending to your server failed: {err}. Your server closed or reset the connection before reading everything."
                        )));
                    }
                    rest = after;
                    if rest.is_empty() {
                        break;
                    }
                    if send.pause_ms > 0 {
                        std::thread::sleep(clock.remaining(Some(send.pause_ms)));
                    }
                }
                Ok(())
            }
        }
    }

    /// Half-closes a TCP connection: the server reads end-of-file.
    pub(super) fn shutdown_write(&mut self, socket: &str) -> Result<(), Failure> {
        let Connection::Tcp { stream, .. } = self.get(socket) else {
            unreachable!("validated as TCP")
        };
        let result = stream.shutdown(Shutdown::Write);
        self.note(socket, "shut down the sending side (half-close)");
        result.map_err(|err| Failure::fail(format!("could not half-close the connection: {err}")))
    }

    pub(super) fn reset(&mut self, socket: &str) {
        if let Some(Connection::Tcp { stream, .. }) = self.open.remove(socket) {
            // Linger 0 makes close send RST instead of FIN.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        self.note(socket, "reset the connection (RST)");
    }

    pub(super) fn close(&mut self, socket: &str) {
        if let Some(connection) = self.open.remove(socket) {
            close_quietly(connection);
        }
        self.note(socket, "closed");
    }

    /// Reads one more chunk from a TCP connection, waiting at most `wait`.
    pub(super) fn read_more(&mut self, name: &str, wait: Duration) -> ReadResult {
        let transcript = self.transcript.clone();
        let Connection::Tcp {
            stream,
            received,
            at_eof,
            ..
        } = self.get(name)
        else {
            unreachable!("validated as TCP")
        };
        if *at_eof {
            return ReadResult::Eof;
        }
        if wait.is_zero() {
            return ReadResult::TimedOut;
        }
        let _ = stream.set_read_timeout(Some(wait));
        let mut buffer = [0u8; 16384];
        let outcome = match stream.read(&mut buffer) {
            Ok(0) => {
                *at_eof = true;
                ReadResult::Eof
            }
            Ok(length) => {
                received.extend_from_slice(&buffer[..length]);
                ReadResult::Data(length)
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                ReadResult::TimedOut
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => ReadResult::Data(0),
            Err(_) => {
                *at_eof = true;
                ReadResult::Reset
            }
        };
        match outcome {
            ReadResult::Data(length) if length > 0 => {
                transcript.stream_bytes(name, &buffer[..length]);
            }
            ReadResult::Eof => transcript.note(name, "the server closed the connection"),
            ReadResult::Reset => transcript.note(name, "the server reset the connection"),
            ReadResult::Data(_) | ReadResult::TimedOut => {}
        }
        outcome
    }

    /// The bytes received on a TCP connection and not yet matched.
    pub(super) fn received(&mut self, name: &str) -> Vec<u8> {
        let Connection::Tcp { received, .. } = self.get(name) else {
            unreachable!("validated as TCP")
        };
        received.clone()
    }
}
