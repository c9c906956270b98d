//! The cell's name server: every name is the cell. A client that hard-codes
//! `smtp.gmail.com` or a lab machine's name asks the cell's resolver
//! configuration (`nameserver 127.0.0.1`), and this answers: an `A` query
//! with 127.0.0.1 for any name, `AAAA` with no address (NOERROR, so clients
//! fall back to IPv4 at once), any other type with no records, any other
//! opcode `NOTIMP`. It remembers which names were asked (the first
//! [`MAX_NAMES`], each once), so a report can say what a client looked up.
//!
//! It runs on a thread of the grader, on a UDP socket made inside the cell's
//! network namespace, and stops when its [`Resolver`] is dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use socket2::Socket;

/// The most names remembered per cell: enough for any client, and a client
/// that asks for a million random names cannot grow the grader's memory.
pub const MAX_NAMES: usize = 64;

/// The longest name a DNS message can carry (RFC 1035: 255 bytes on the wire).
const MAX_NAME: usize = 253;

/// The port the resolver answers on, on every address of the cell.
pub const PORT: u16 = 53;

/// What every name resolves to.
pub const ANSWER: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Seconds a client may cache an answer: it never changes during a cell.
const TTL: u32 = 60;

const TYPE_A: u16 = 1;
/// Answered like any type but A: with no records.
#[cfg(test)]
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_NOTIMP: u8 = 4;

/// One question, as far as the answer needs it.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    /// Lower case, labels joined by dots, no trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// The names asked so far, in the order first asked.
#[derive(Clone, Default)]
pub struct Names(Arc<Mutex<Vec<String>>>);

impl Names {
    fn record(&self, name: &str) {
        let mut names = self.0.lock().expect("names asked");
        if names.len() < MAX_NAMES && !names.iter().any(|known| known == name) {
            names.push(name.to_string());
        }
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().expect("names asked").clone()
    }
}

/// Reads the first question of a query starting at byte 12; returns it and
/// where it ends. Queries never compress their question, so a pointer (or
/// anything malformed) is `None`.
fn question(query: &[u8]) -> Option<(Question, usize)> {
    let mut at = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut length = 0;
    loop {
        let size = *query.get(at)? as usize;
        at += 1;
        if size == 0 {
            break;
        }
        if size > 63 {
            return None;
        }
        let label = query.get(at..at + size)?;
        at += size;
        length += size + 1;
        if length > MAX_NAME + 1 {
            return None;
        }
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
    }
    let fixed = query.get(at..at + 4)?;
    Some((
        Question {
            name: labels.join("."),
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        },
        at + 4,
    ))
}

/// The reply to one datagram, and the question in it if there was one.
/// `None` for what deserves no reply: a response, or fewer bytes than a header.
pub fn answer(query: &[u8]) -> Option<(Vec<u8>, Option<Question>)> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let opcode = (query[2] >> 3) & 0x0f;
    let recursion_desired = query[2] & 0x01;
    let questions = u16::from_be_bytes([query[4], query[5]]);
    let parsed = if questions >= 1 {
        question(query)
    } else {
        None
    };
    let rcode = match (&parsed, opcode) {
        (_, 1..) => RCODE_NOTIMP,
        (None, _) => RCODE_FORMERR,
        (Some(_), 0) => 0,
    };
    let answers = match &parsed {
        Some((q, _)) if rcode == 0 && q.qtype == TYPE_A && q.qclass == CLASS_IN => 1u16,
        _ => 0,
    };
    let mut reply = Vec::with_capacity(64);
    reply.extend_from_slice(&query[..2]);
    // QR, the opcode, AA, RD as asked; RA; the rcode.
    reply.push(0x80 | (opcode << 3) | 0x04 | recursion_desired);
    reply.push(0x80 | rcode);
    let echoed = parsed.as_ref().map_or(0u16, |_| 1);
    for count in [echoed, answers, 0, 0] {
        reply.extend_from_slice(&count.to_be_bytes());
    }
    if let Some((_, end)) = &parsed {
        reply.extend_from_slice(&query[12..*end]);
    }
    if answers == 1 {
        // The name as a pointer to the question's, at byte 12.
        reply.extend_from_slice(&[0xc0, 0x0c]);
        reply.extend_from_slice(&TYPE_A.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&TTL.to_be_bytes());
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&ANSWER.octets());
    }
    Some((reply, parsed.map(|(q, _)| q)))
}

/// A running name server; dropping it stops its thread.
pub struct Resolver {
    names: Names,
    /// Closed on drop: the thread sees its read end hang up and returns.
    stop: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Resolver {
    /// Serves on `socket`, already bound in the cell.
    pub fn start(socket: Socket) -> std::io::Result<Resolver> {
        let (stop_read, stop_write) = super::cloexec_pipe()?;
        let names = Names::default();
        let thread = {
            let names = names.clone();
            std::thread::Builder::new()
                .name("cell-resolver".into())
                .spawn(move || serve(&socket, &stop_read, &names))?
        };
        Ok(Resolver {
            names,
            stop: Some(stop_write),
            thread: Some(thread),
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.names.snapshot()
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &Socket, stop: &OwnedFd, names: &Names) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 512];
    loop {
        let mut fds = [
            PollFd::new(socket.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        if fds[1].revents().is_some_and(|events| !events.is_empty()) {
            return;
        }
        let Ok((length, from)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        // SAFETY: recv_from initialised the first `length` bytes.
        let query: Vec<u8> = buffer[..length]
            .iter()
            .map(|byte| unsafe { byte.assume_init() })
            .collect();
        let Some((reply, asked)) = answer(&query) else {
            continue;
        };
        if let Some(asked) = asked {
            if !asked.name.is_empty() {
                names.record(&asked.name);
            }
        }
        if from
            .as_socket()
            .is_some_and(|peer: SocketAddr| peer.port() != 0)
        {
            let _ = socket.send_to(&reply, &from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as glibc sends it: id, RD, one question.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.push(0);
        query.extend_from_slice(&qtype.to_be_bytes());
        query.extend_from_slice(&CLASS_IN.to_be_bytes());
        query
    }

    #[test]
    fn every_name_is_the_cell() {
        let asked = query("SMTP.gmail.com", TYPE_A);
        let (reply, question) = answer(&asked).unwrap();
        let question = question.unwrap();
        assert_eq!(question.name, "smtp.gmail.com");
        assert_eq!(&reply[..2], &[0x12, 0x34]);
        assert_eq!(reply[2], 0x85, "QR, AA, RD");
        assert_eq!(reply[3], 0x80, "RA, NOERROR");
        assert_eq!(&reply[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&reply[12..asked.len()], &asked[12..]);
        let record = &reply[asked.len()..];
        assert_eq!(&record[..2], &[0xc0, 0x0c]);
        assert_eq!(&record[2..6], &[0, 1, 0, 1]);
        assert_eq!(&record[10..12], &[0, 4]);
        assert_eq!(&record[12..], &[127, 0, 0, 1]);
    }

    #[test]
    fn ipv6_and_other_types_get_no_records() {
        for qtype in [TYPE_AAAA, 15, 255] {
            let asked = query("www.example.com", qtype);
            let (reply, _) = answer(&asked).unwrap();
            assert_eq!(reply[3] & 0x0f, 0, "NOERROR for type {qtype}");
            assert_eq!(&reply[4..8], &[0, 1, 0, 0]);
            assert_eq!(reply.len(), asked.len());
        }
    }

    #[test]
    fn other_opcodes_malformed_queries_and_responses() {
        let mut notify = query("a.b", TYPE_A);
        notify[2] = 4 << 3; // NOTIFY
        assert_eq!(answer(&notify).unwrap().0[3] & 0x0f, RCODE_NOTIMP);
        let mut cut = query("a.b", TYPE_A);
        cut.truncate(15);
        let (reply, question) = answer(&cut).unwrap();
        assert_eq!(reply[3] & 0x0f, RCODE_FORMERR);
        assert!(question.is_none());
        assert_eq!(reply.len(), 12);
        let mut pointer = query("a.b", TYPE_A);
        pointer[12] = 0xc0;
        assert!(answer(&pointer).unwrap().1.is_none());
        let mut response = query("a.b", TYPE_A);
        response[2] |= 0x80;
        assert!(answer(&response).is_none());
        assert!(answer(&[0; 5]).is_none());
    }

    #[test]
    fn names_are_kept_once_and_bounded() {
        let names = Names::default();
        for round in 0..2 {
            for n in 0..(MAX_NAMES + 10) {
                names.record(&format!("host{n}.example"));
            }
            assert_eq!(names.snapshot().len(), MAX_NAMES, "round {round}");
        }
        assert_eq!(names.snapshot()[0], "host0.example");
    }

    #[test]
    fn it_answers_over_a_real_socket_and_stops() {
        let socket = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        let at = socket.local_addr().unwrap().as_socket().unwrap();
        let resolver = Resolver::start(socket).unwrap();
        let client = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client
            .send_to(&query("gaia.cs.umass.edu", TYPE_A), at)
            .unwrap();
        let mut reply = [0u8; 512];
        let length = client.recv(&mut reply).unwrap();
        assert_eq!(&reply[length - 4..length], &[127, 0, 0, 1]);
        assert_eq!(resolver.names(), vec!["gaia.cs.umass.edu".to_string()]);
        drop(resolver);
    }
}
