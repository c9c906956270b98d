//! What the kernel tells about a cell: which sockets are bound, which
//! processes belong to it.
//!
//! Readiness is read here rather than probed: connecting to a student's server
//! to see whether it is up would be a request it could count (a textbook TCP
//! server would even serve the probe and move on). Bound sockets are read
//! through socket diagnostics ([`super::sock_diag`]) where the kernel offers
//! them, and from `/proc/<pid>/net/*` (the sockets of the network namespace
//! `pid` lives in) otherwise; `/proc/<pid>/fd/*` links name the socket inodes
//! a process holds.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::sock_diag::{self, DiagSocket};
use crate::transport::Transport;

/// Where a cell's bound sockets are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketSource {
    /// The kernel's socket diagnostics over netlink, in the cell's network
    /// namespace: a fraction of a millisecond per look.
    SockDiag,
    /// The `/proc/<pid>/net` tables: the fallback when the kernel refuses
    /// sock_diag, about 15 ms per look on a large machine.
    ProcNet,
}

impl SocketSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketSource::SockDiag => "sock_diag",
            SocketSource::ProcNet => "proc_net",
        }
    }
}

/// How one cell reads its sockets: a sock_diag socket in the cell's network
/// namespace when there is one that answers, else the `/proc` tables of
/// `net_dir`. A dump that fails once makes the view fall back for good, so a
/// cell never pays for a broken netlink socket and `/proc` twice per look.
pub struct SocketView {
    diag: Option<Mutex<DiagSocket>>,
    /// `/proc/self/net` or `/proc/<keeper>/net`.
    net_dir: PathBuf,
    fell_back: AtomicBool,
}

impl SocketView {
    /// A view of the network namespace `net_dir` describes, through `diag`
    /// when it was had and answers a first dump.
    pub fn new(diag: std::io::Result<DiagSocket>, net_dir: PathBuf) -> SocketView {
        let diag = diag.ok().and_then(|mut diag| {
            diag.dump(Transport::Tcp, sock_diag::state_bit(sock_diag::TCP_LISTEN))
                .ok()
                .map(|_| Mutex::new(diag))
        });
        SocketView {
            diag,
            net_dir,
            fell_back: AtomicBool::new(false),
        }
    }

    /// A view of the grader's own network namespace.
    pub fn own_namespace() -> SocketView {
        SocketView::new(DiagSocket::open(), PathBuf::from("/proc/self/net"))
    }

    /// Which source answers now.
    pub fn source(&self) -> SocketSource {
        match (&self.diag, self.fell_back.load(Ordering::Relaxed)) {
            (Some(_), false) => SocketSource::SockDiag,
            (Some(_), true) | (None, _) => SocketSource::ProcNet,
        }
    }

    /// Every listener of the namespace, of `transport` or of both.
    pub fn listeners(&self, transport: Option<Transport>) -> Vec<Listener> {
        if let Some(found) = self.read_diag(transport) {
            return found;
        }
        let mut found = listeners(&self.net_dir);
        found.retain(|listener| transport.is_none_or(|wanted| listener.transport == wanted));
        found
    }

    fn read_diag(&self, transport: Option<Transport>) -> Option<Vec<Listener>> {
        let diag = self.diag.as_ref()?;
        if self.fell_back.load(Ordering::Relaxed) {
            return None;
        }
        let mut diag = diag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let transports: &[Transport] = match transport {
            Some(Transport::Tcp) => &[Transport::Tcp],
            Some(Transport::Udp) => &[Transport::Udp],
            None => &[Transport::Tcp, Transport::Udp],
        };
        let mut found = Vec::new();
        for &transport in transports {
            match dump_listeners(&mut diag, transport) {
                Ok(listeners) => found.extend(listeners),
                Err(_) => {
                    self.fell_back.store(true, Ordering::Relaxed);
                    return None;
                }
            }
        }
        Some(found)
    }

    /// The port among `ports` on which `pid` or a descendant listens over
    /// `transport`. Cheap when nothing listens there yet: the namespace's
    /// sockets are read first, and the process tree only walked (breadth
    /// first, stopping at the owner) when a candidate socket exists. For
    /// the process tier, whose network is shared with the machine.
    pub fn listening_on_owned(&self, pid: i32, transport: Transport, ports: &[u16]) -> Option<u16> {
        let candidates: Vec<Listener> = self
            .listeners(Some(transport))
            .into_iter()
            .filter(|listener| ports.contains(&listener.port))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        descendants(pid).find_map(|member| {
            let inodes = socket_inodes(member);
            candidates
                .iter()
                .find(|listener| inodes.contains(&listener.inode))
                .map(|listener| listener.port)
        })
    }

    /// Every socket bound by `pid` or any of its descendants.
    pub fn listeners_owned(&self, pid: i32) -> Vec<Listener> {
        let all = self.listeners(None);
        if all.is_empty() {
            return all;
        }
        let owned: HashSet<u64> = descendants(pid).flat_map(socket_inodes).collect();
        all.into_iter()
            .filter(|listener| owned.contains(&listener.inode))
            .collect()
    }

    /// The port among `ports` on which something in the namespace listens
    /// over `transport` (a namespace cell: everything in it is the cell's).
    pub fn listening_on(&self, transport: Transport, ports: &[u16]) -> Option<u16> {
        self.listeners(Some(transport))
            .into_iter()
            .find(|listener| ports.contains(&listener.port))
            .map(|listener| listener.port)
    }
}

/// TCP sockets in LISTEN, or UDP sockets bound to a port, from sock_diag.
fn dump_listeners(diag: &mut DiagSocket, transport: Transport) -> std::io::Result<Vec<Listener>> {
    let states = match transport {
        Transport::Tcp => sock_diag::state_bit(sock_diag::TCP_LISTEN),
        Transport::Udp => sock_diag::ALL_STATES,
    };
    Ok(diag
        .dump(transport, states)?
        .into_iter()
        .filter(|entry| entry.port != 0 && entry.inode != 0)
        .map(|entry| Listener {
            transport,
            port: entry.port,
            inode: entry.inode,
        })
        .collect())
}

/// A bound socket: a TCP socket in LISTEN state, or any bound UDP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Listener {
    pub transport: Transport,
    pub port: u16,
    pub inode: u64,
}

/// Every listener in the network namespace that `net_dir` describes
/// (`/proc/self/net` or `/proc/<pid>/net`).
pub fn listeners(net_dir: &Path) -> Vec<Listener> {
    let mut found = Vec::new();
    for (file, transport) in [
        ("tcp", Transport::Tcp),
        ("tcp6", Transport::Tcp),
        ("udp", Transport::Udp),
        ("udp6", Transport::Udp),
    ] {
        let Ok(table) = fs::read_to_string(net_dir.join(file)) else {
            continue;
        };
        found.extend(
            table
                .lines()
                .skip(1)
                .filter_map(|line| parse_socket_line(line, transport)),
        );
    }
    found
}

/// Parses one row of `/proc/net/{tcp,udp}[6]`:
/// `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …`.
fn parse_socket_line(line: &str, transport: Transport) -> Option<Listener> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    let state = fields.get(3)?;
    let inode: u64 = fields.get(9)?.parse().ok()?;
    let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
    const TCP_LISTEN: &str = "0A";
    let bound = match transport {
        Transport::Tcp => *state == TCP_LISTEN,
        Transport::Udp => port != 0,
    };
    (bound && inode != 0).then_some(Listener {
        transport,
        port,
        inode,
    })
}

/// How many TCP connections on local `port` are in TIME_WAIT in this
/// network namespace: through sock_diag (a socket per thread, opened on
/// first use), or the `/proc` tables if the kernel refuses it.
pub fn time_waits(port: u16) -> usize {
    thread_local! {
        static DIAG: std::cell::RefCell<Option<DiagSocket>> =
            std::cell::RefCell::new(DiagSocket::open().ok());
    }
    let from_diag = DIAG.with(|diag| {
        let mut diag = diag.borrow_mut();
        let found = diag.as_mut()?.dump(
            Transport::Tcp,
            sock_diag::state_bit(sock_diag::TCP_TIME_WAIT),
        );
        match found {
            Ok(entries) => Some(entries.iter().filter(|entry| entry.port == port).count()),
            Err(_) => {
                *diag = None;
                None
            }
        }
    });
    from_diag.unwrap_or_else(|| time_waits_in_proc(port))
}

fn time_waits_in_proc(port: u16) -> usize {
    const TIME_WAIT: &str = "06";
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|file| fs::read_to_string(Path::new("/proc/self/net").join(file)).ok())
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields.get(1).and_then(|local| local.rsplit(':').next());
                    fields.get(3) == Some(&TIME_WAIT)
                        && local_port.and_then(|hex| u16::from_str_radix(hex, 16).ok())
                            == Some(port)
                })
                .count()
        })
        .sum()
}

/// Socket inodes held open by process `pid`.
pub fn socket_inodes(pid: i32) -> HashSet<u64> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// `pid` and every process descended from it, breadth first, read from each
/// process's `children` files: the cost grows with the cell, not with the
/// machine, and a caller looking for one process stops early.
pub fn descendants(pid: i32) -> impl Iterator<Item = i32> {
    let mut pending = std::collections::VecDeque::from([pid]);
    std::iter::from_fn(move || {
        let next = pending.pop_front()?;
        pending.extend(children_of(next));
        Some(next)
    })
}

fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|child| child.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Processes whose environment carries `marker` (`NAME=value`): every process
/// a cell starts inherits it, even one that left the cell's process group or
/// lost its parent.
pub fn processes_marked(marker: &str) -> Vec<i32> {
    processes_with_environment_entry(|entry| entry == marker.as_bytes())
}

/// Processes whose cell marker starts with `prefix`: with this grader's pid
/// as the prefix, every process any of its cells started and that is still
/// alive. Tests use it to prove cleanup.
pub fn processes_marked_with_prefix(prefix: &str) -> Vec<i32> {
    let needle = format!("{}={prefix}", super::CELL_MARKER_VAR);
    processes_with_environment_entry(|entry| entry.starts_with(needle.as_bytes()))
        .into_iter()
        .filter(|pid| !is_zombie(*pid))
        .collect()
}

/// Processes one of whose environment entries (`NAME=value`) `wanted` accepts.
fn processes_with_environment_entry(wanted: impl Fn(&[u8]) -> bool) -> Vec<i32> {
    all_processes()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|&b| b == 0).any(&wanted))
        })
        .collect()
}

/// Whether `root` and every process below it is asleep in the kernel or
/// finished: state `S` (interruptible sleep: accept, recv, poll, wait),
/// stopped, a zombie, or gone. A process that runs or is runnable (`R`), or
/// waits on the disk (`D`, loading its start-up), is not waiting yet. Only
/// each process's main thread is read, which is the one that accepts or
/// waits on the others in the servers graded.
pub fn tree_is_waiting(root: i32) -> bool {
    descendants(root).all(|pid| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|rest| rest.trim_start().chars().next());
                matches!(state, Some('S' | 'T' | 't' | 'Z' | 'X' | 'I') | None)
            })
            .unwrap_or(true)
    })
}

/// [`tree_is_waiting`] for every thread of every process, not only each
/// process's first: a server whose main thread waits in `accept` while a
/// worker thread still runs (printing the error that stopped it) is busy.
pub fn threads_are_waiting(root: i32) -> bool {
    descendants(root).all(|pid| {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return true;
        };
        tasks.filter_map(Result::ok).all(|task| {
            fs::read_to_string(task.path().join("stat"))
                .map(|stat| {
                    let state = stat
                        .rsplit(')')
                        .next()
                        .and_then(|rest| rest.trim_start().chars().next());
                    matches!(state, Some('S' | 'T' | 't' | 'Z' | 'X' | 'I') | None)
                })
                .unwrap_or(true)
        })
    })
}

/// Whether `pid` is a zombie (or already gone): dead, only waiting to be reaped.
pub fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn all_processes() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child_killed(mut child: std::process::Child) -> std::io::Result<std::process::ExitStatus> {
        child.kill()?;
        child.wait()
    }

    #[test]
    fn parses_listening_and_bound_rows() {
        let tcp = "   0: 0100007F:2EE0 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_socket_line(tcp, Transport::Tcp),
            Some(Listener {
                transport: Transport::Tcp,
                port: 12000,
                inode: 4242
            })
        );
        let established = tcp.replace(" 0A ", " 01 ");
        assert_eq!(parse_socket_line(&established, Transport::Tcp), None);
        let udp = "  5: 00000000:2EE0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0";
        assert_eq!(
            parse_socket_line(udp, Transport::Udp).map(|l| l.port),
            Some(12000)
        );
    }

    #[test]
    fn a_socket_view_finds_this_process_s_listeners_through_sock_diag() {
        let view = SocketView::own_namespace();
        assert_eq!(view.source(), SocketSource::SockDiag);
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (tcp_port, udp_port) = (
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port(),
        );
        let me = std::process::id() as i32;
        assert_eq!(
            view.listening_on_owned(me, Transport::Tcp, &[tcp_port]),
            Some(tcp_port)
        );
        assert_eq!(
            view.listening_on_owned(me, Transport::Udp, &[udp_port]),
            Some(udp_port)
        );
        // A TCP port is not a UDP listener, and the other way round.
        assert_eq!(
            view.listening_on_owned(me, Transport::Udp, &[tcp_port]),
            None
        );
        let mine = view.listeners_owned(me);
        let inodes = socket_inodes(me);
        for (transport, port) in [(Transport::Tcp, tcp_port), (Transport::Udp, udp_port)] {
            assert!(
                mine.iter().any(|l| l.transport == transport
                    && l.port == port
                    && inodes.contains(&l.inode)),
                "{mine:?}"
            );
        }
        // What sock_diag finds, /proc finds: same ports, same inodes.
        let from_proc = listeners(Path::new("/proc/self/net"));
        for listener in mine {
            assert!(from_proc.contains(&listener), "{listener:?}");
        }
    }

    #[test]
    fn without_sock_diag_the_view_reads_proc_and_says_so() {
        let refused = Err(std::io::Error::from_raw_os_error(
            nix::libc::EPROTONOSUPPORT,
        ));
        let view = SocketView::new(refused, PathBuf::from("/proc/self/net"));
        assert_eq!(view.source(), SocketSource::ProcNet);
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let me = std::process::id() as i32;
        assert_eq!(
            view.listening_on_owned(me, Transport::Tcp, &[port]),
            Some(port)
        );
    }

    #[test]
    fn finds_this_process_and_its_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id() as i32;
        let mine = socket_inodes(me);
        let found = listeners(Path::new("/proc/self/net"));
        assert!(
            found
                .iter()
                .any(|l| l.port == port && mine.contains(&l.inode))
        );
        let child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let family: Vec<i32> = descendants(me).collect();
        assert_eq!(family[0], me);
        assert!(family.contains(&(child.id() as i32)), "{family:?}");
        drop(child_killed(child));
    }
}
