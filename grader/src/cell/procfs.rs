//! What `/proc` tells about a cell: which sockets are bound, which processes
//! belong to it.
//!
//! Readiness is read here rather than probed: connecting to a student's server
//! to see whether it is up would be a request it could count (a textbook TCP
//! server would even serve the probe and move on). `/proc/<pid>/net/*` lists
//! the sockets of the network namespace `pid` lives in, and
//! `/proc/<pid>/fd/*` links name the socket inodes a process holds.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::transport::Transport;

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
/// network namespace.
pub fn time_waits(port: u16) -> usize {
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
