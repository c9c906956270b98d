//! Waking a thread blocked on a socket by shutting the socket for reading,
//! and receiving datagrams on a socket that may have been shut that way.
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
use std::os::fd::{BorrowedFd, RawFd};

/// Shuts `fd` for reading; see the module's note.
pub(crate) fn shut_for_reading(fd: RawFd) {
    // SAFETY: the callers keep `fd` in a list of watched sockets, and a
    // guard removes it, under the same lock, before the socket closes.
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
    use std::os::fd::AsRawFd;
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
        shut_for_reading(socket.as_raw_fd());
        // Twice: the mark stays, so a later wait returns at once too.
        for _ in 0..2 {
            assert_eq!(recv_datagram(&socket, &mut buffer).expect("no error"), None);
        }
    }
}
