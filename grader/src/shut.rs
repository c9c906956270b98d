//! Waking a thread blocked on a socket when something happens (a test ends,
//! a program exits) by shutting the socket for reading, and receiving
//! datagrams on a socket that may have been shut that way.
//!
//! `shutdown(SHUT_RD)` makes a blocked `accept`, `read` or `recv_from`
//! return, and every later one return at once: a listener is closed, a
//! connection reads end of file, and an unconnected UDP socket receives
//! nothing from no address. The `shutdown` call itself fails with
//! `ENOTCONN` on that UDP socket, after marking it shut. The standard
//! library's `recv_from` cannot take "no address" (it asserts on the
//! address length), so datagrams are received here through socket2.

use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// An event that happens once (a test's end, a program's exit) and the
/// sockets it wakes: each watched socket is shut for reading when the alarm
/// rings, or at once if it has rung.
#[derive(Default)]
pub(crate) struct SocketAlarm {
    rung: AtomicBool,
    /// Descriptors of sockets a thread may be blocked on. One is removed
    /// (under this lock) before its socket is closed, so a number here is
    /// never one the process reused for something else.
    watched: Mutex<Vec<RawFd>>,
}

impl SocketAlarm {
    pub(crate) fn has_rung(&self) -> bool {
        self.rung.load(Ordering::Acquire)
    }

    /// Sets the flag, then wakes every watched socket.
    pub(crate) fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        for &fd in self.lock().iter() {
            shut_for_reading(fd);
        }
    }

    /// Watches `socket` until the guard is dropped, which must happen before
    /// the socket is closed. A socket watched after the alarm rang is shut now.
    pub(crate) fn watch(&self, socket: &impl AsRawFd) -> Watched<'_> {
        let fd = socket.as_raw_fd();
        let mut watched = self.lock();
        watched.push(fd);
        if self.has_rung() {
            shut_for_reading(fd);
        }
        Watched { alarm: self, fd }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RawFd>> {
        self.watched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A socket [`SocketAlarm::ring`] wakes, for as long as this lives.
pub(crate) struct Watched<'a> {
    alarm: &'a SocketAlarm,
    fd: RawFd,
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        let mut watched = self.alarm.lock();
        if let Some(at) = watched.iter().position(|&fd| fd == self.fd) {
            watched.swap_remove(at);
        }
    }
}

/// Shuts `fd` for reading; see the module's note.
fn shut_for_reading(fd: RawFd) {
    // SAFETY: `fd` is in an alarm's watched list, so its socket is still
    // open: a guard removes it, under the same lock, before the socket closes.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&socket).shutdown(std::net::Shutdown::Read);
}

/// One datagram into `buffer`: its length and sender, or `None` when the
/// socket was shut for reading (nothing came, from no one).
pub(crate) fn recv_datagram(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> std::io::Result<Option<(usize, SocketAddr)>> {
    // SAFETY: initialised bytes are valid `MaybeUninit<u8>`s, and the
    // kernel only writes bytes into them.
    let uninit = unsafe { &mut *(buffer as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let (length, from) = socket2::SockRef::from(socket).recv_from(uninit)?;
    Ok(from.as_socket().map(|from| (length, from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_shut_udp_socket_receives_nothing_from_no_one_at_once() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a timeout");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("a sender");
        sender
            .send_to(b"ping", socket.local_addr().expect("an address"))
            .expect("sent");
        let mut buffer = [0u8; 16];
        let got = recv_datagram(&socket, &mut buffer).expect("a datagram");
        assert_eq!(
            got.map(|(length, from)| (&buffer[..length], from)),
            Some((&b"ping"[..], sender.local_addr().expect("an address")))
        );
        let alarm = SocketAlarm::default();
        let watched = alarm.watch(&socket);
        alarm.ring();
        // Twice: the mark stays, so a later wait returns at once too.
        for _ in 0..2 {
            assert_eq!(recv_datagram(&socket, &mut buffer).expect("no error"), None);
        }
        drop(watched);
        assert!(
            alarm.lock().is_empty(),
            "the guard leaves no descriptor behind"
        );
    }
}
