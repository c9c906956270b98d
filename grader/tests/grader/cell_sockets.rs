//! The sockets a namespace cell hands the grader (`Cell::socket`): the
//! keeper sends the first ones with its `Ready` and later ones in batches,
//! which the cell keeps until a test takes them. However many a grading
//! takes, each must be a fresh socket of the cell's own network: unbound,
//! unconnected, and reaching the others there. Real namespaces and sockets.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use grader::transport::Transport;

use crate::support;

/// More than the keeper's first stock and its next batch together.
const TAKEN: usize = 20;

/// A bound against a hang, never a pause.
const AT_MOST: Duration = Duration::from_secs(60);

fn any_port() -> socket2::SockAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()
}

#[test]
fn every_socket_a_cell_hands_out_is_fresh_and_of_the_cells_network() {
    let Some(cell) = support::namespace_cell("cell-sockets", None) else {
        return;
    };
    // UDP: each binds a port of its own, and a datagram from one reaches
    // the next through the cell's loopback.
    let udp: Vec<UdpSocket> = (0..TAKEN)
        .map(|_| {
            let socket = cell.socket(Transport::Udp).expect("a UDP socket");
            let unbound = socket.local_addr().ok().and_then(|at| at.as_socket());
            assert_eq!(
                unbound.map(|at| at.port()),
                Some(0),
                "a UDP socket came bound"
            );
            socket.bind(&any_port()).expect("it binds");
            let socket = UdpSocket::from(socket);
            socket.set_read_timeout(Some(AT_MOST)).unwrap();
            socket
        })
        .collect();
    for pair in udp.windows(2) {
        let to = pair[1].local_addr().unwrap();
        pair[0].send_to(b"ping", to).unwrap();
        let mut buffer = [0u8; 8];
        let (length, from) = pair[1]
            .recv_from(&mut buffer)
            .expect("the datagram arrives");
        assert_eq!(
            (&buffer[..length], from),
            (&b"ping"[..], pair[0].local_addr().unwrap())
        );
    }
    let ports: std::collections::BTreeSet<u16> = udp
        .iter()
        .map(|socket| socket.local_addr().unwrap().port())
        .collect();
    assert_eq!(ports.len(), TAKEN, "two sockets shared a port");
    // TCP: each listens, and a connection made from the cell is accepted.
    for _ in 0..TAKEN {
        let listener = cell.socket(Transport::Tcp).expect("a TCP socket");
        assert!(listener.peer_addr().is_err(), "a TCP socket came connected");
        listener.bind(&any_port()).expect("it binds");
        listener.listen(1).unwrap();
        let address = listener.local_addr().unwrap();
        let client = cell.socket(Transport::Tcp).expect("a TCP socket");
        client.connect(&address).expect("it connects in the cell");
        let (accepted, _) = listener.accept().expect("the connection is accepted");
        let mut client = TcpStream::from(client);
        client.write_all(b"hello").unwrap();
        let mut accepted = TcpStream::from(accepted);
        accepted.set_read_timeout(Some(AT_MOST)).unwrap();
        let mut received = [0u8; 5];
        accepted.read_exact(&mut received).unwrap();
        assert_eq!(&received, b"hello");
    }
}
