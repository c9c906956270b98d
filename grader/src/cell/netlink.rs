//! One rtnetlink request, written by hand: the AnyIP route of a cell,
//! `local 0.0.0.0/0 dev lo` in the `local` table (what
//! `ip route add local 0.0.0.0/0 dev lo` sends). With it every IPv4 address
//! is an address of the cell's own: a client that dials 10.0.0.1:12000 or
//! 203.0.113.5:80 reaches a socket bound on 0.0.0.0 of that port, and the
//! connection's local address is the one it dialled. The root of an
//! unprivileged network namespace holds `CAP_NET_ADMIN` over it, which is all
//! it takes; `ip` need not be installed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RT_TABLE_LOCAL: u8 = 255;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_HOST: u8 = 254;
const RTN_LOCAL: u8 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;

/// The request's sequence number; one request per socket, so any will do.
const SEQUENCE: u32 = 1;

/// The bytes of `RTM_NEWROUTE` for `local 0.0.0.0/0 dev <ifindex>`:
/// `nlmsghdr`, `rtmsg`, then `RTA_DST` (0.0.0.0) and `RTA_OIF`, all in the
/// host's byte order as rtnetlink wants (addresses in network order).
pub fn any_ip_route(ifindex: u32) -> Vec<u8> {
    let mut message = Vec::with_capacity(44);
    // nlmsghdr: length filled in below.
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
    message
        .extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE).to_ne_bytes());
    message.extend_from_slice(&SEQUENCE.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // the kernel fills our port id
    // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    message.extend_from_slice(&[
        libc::AF_INET as u8,
        0,
        0,
        0,
        RT_TABLE_LOCAL,
        RTPROT_BOOT,
        RT_SCOPE_HOST,
        RTN_LOCAL,
    ]);
    message.extend_from_slice(&0u32.to_ne_bytes());
    // rtattr RTA_DST: 4 bytes of header, the address 0.0.0.0.
    message.extend_from_slice(&8u16.to_ne_bytes());
    message.extend_from_slice(&RTA_DST.to_ne_bytes());
    message.extend_from_slice(&[0, 0, 0, 0]);
    // rtattr RTA_OIF: the output interface, `lo`.
    message.extend_from_slice(&8u16.to_ne_bytes());
    message.extend_from_slice(&RTA_OIF.to_ne_bytes());
    message.extend_from_slice(&ifindex.to_ne_bytes());
    let length = message.len() as u32;
    message[..4].copy_from_slice(&length.to_ne_bytes());
    message
}

/// What the kernel answered to a request sent with `NLM_F_ACK`: `Ok` for an
/// acknowledgement, the errno it refused with otherwise.
pub fn parse_ack(reply: &[u8]) -> Result<(), i32> {
    const HEADER: usize = 16;
    if reply.len() < HEADER + 4 {
        return Err(libc::EPROTO);
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind != NLMSG_ERROR {
        return Err(libc::EPROTO);
    }
    let error = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
    match error {
        0 => Ok(()),
        negative => Err(-negative),
    }
}

/// Adds the AnyIP route in the calling process's network namespace. A route
/// already there (`EEXIST`) counts as added.
pub fn add_any_ip_route() -> std::io::Result<()> {
    // SAFETY: a valid C string.
    let ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if ifindex == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: plain system call; the fd is ours.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just created, owned here.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let request = any_ip_route(ifindex);
    // SAFETY: sockaddr_nl is plain data; zero is the kernel's address.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: valid buffer and address of the sizes given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // An error reply echoes the request after its errno: room for both.
    let mut reply = [0u8; 256];
    let received = loop {
        // SAFETY: a valid buffer of the size given.
        let received = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                reply.as_mut_ptr().cast(),
                reply.len(),
                0,
            )
        };
        if received >= 0 {
            break received as usize;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    match parse_ack(&reply[..received]) {
        Ok(()) => Ok(()),
        Err(errno) if errno == libc::EEXIST => Ok(()),
        Err(errno) => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_message_is_what_ip_sends() {
        let message = any_ip_route(1);
        assert_eq!(message.len(), 44);
        assert_eq!(u32::from_ne_bytes(message[0..4].try_into().unwrap()), 44);
        assert_eq!(u16::from_ne_bytes([message[4], message[5]]), RTM_NEWROUTE);
        assert_eq!(u16::from_ne_bytes([message[6], message[7]]), 0x605);
        // rtmsg: AF_INET, /0, table local, scope host, type local.
        assert_eq!(&message[16..24], &[2, 0, 0, 0, 255, 3, 254, 2]);
        // RTA_DST 0.0.0.0, RTA_OIF 1.
        assert_eq!(u16::from_ne_bytes([message[28], message[29]]), 8);
        assert_eq!(u16::from_ne_bytes([message[30], message[31]]), RTA_DST);
        assert_eq!(&message[32..36], &[0, 0, 0, 0]);
        assert_eq!(u16::from_ne_bytes([message[38], message[39]]), RTA_OIF);
        assert_eq!(u32::from_ne_bytes(message[40..44].try_into().unwrap()), 1);
    }

    #[test]
    fn acks_and_refusals_are_told_apart() {
        let mut reply = vec![0u8; 36];
        reply[..4].copy_from_slice(&36u32.to_ne_bytes());
        reply[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(parse_ack(&reply), Ok(()));
        reply[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(parse_ack(&reply), Err(libc::EPERM));
        assert_eq!(parse_ack(&reply[..10]), Err(libc::EPROTO));
    }
}
