//! The references of chapter 2's client assignments and the proxy: the
//! pinger against its lossy server, the mail client against a strict SMTP
//! server, and the caching proxy against an origin that counts its hits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use socklab::http;
use socklab::http_response::{self, Parsed};
use socklab::smtp::{self, Behaviour, Session};
use socklab::udp_pinger::{self, Fate, LossPlan};
use socklab::{smtp_client, web_proxy};

use crate::support::{read_to_close, tcp_connect};

#[test]
fn the_pinger_reports_exactly_the_pings_its_server_answered() {
    let plan = LossPlan {
        seed: 2026,
        loss: 0.3,
        max_delay: Duration::ZERO,
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = socket.local_addr().unwrap();
    thread::spawn(move || udp_pinger::serve(socket, plan));

    let mut output = Vec::new();
    udp_pinger::run_client(
        "127.0.0.1",
        server.port(),
        10,
        Duration::from_secs(1),
        &mut output,
    )
    .unwrap();
    let output = String::from_utf8(output).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    for (index, line) in lines.iter().take(10).enumerate() {
        match plan.fate(index as u64) {
            Fate::Drop => assert_eq!(*line, "Request timed out", "ping {}", index + 1),
            // A loss plan has no late replies; the grader's plan does.
            Fate::Reply { .. } | Fate::Late { .. } => assert!(
                line.contains(&format!("PING {} ", index + 1)) && line.contains("RTT: "),
                "ping {}: {line}",
                index + 1
            ),
        }
    }
    let answered = (0..10)
        .filter(|index| plan.fate(*index) != Fate::Drop)
        .count();
    assert!(
        lines[10].contains(&format!("10 packets transmitted, {answered} received")),
        "{output}"
    );
}

/// A strict SMTP server on its own thread, playing `behaviour`, that hands
/// back every mail it accepted once the dialogue ends.
fn smtp_server(behaviour: Behaviour) -> (SocketAddr, thread::JoinHandle<Vec<smtp::Mail>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut connection, _) = listener.accept().unwrap();
        connection.write_all(&smtp::greeting().to_bytes()).unwrap();
        let mut session = Session::new(behaviour);
        let mut pending = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            let length = connection.read(&mut buffer).unwrap_or(0);
            if length == 0 {
                return session.delivered;
            }
            pending.extend_from_slice(&buffer[..length]);
            while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Some(reply) = session.on_line(&line) {
                    connection.write_all(&reply.to_bytes()).unwrap();
                }
            }
        }
    });
    (address, server)
}

#[test]
fn the_mail_client_delivers_through_a_strict_server() {
    let (address, server) = smtp_server(Behaviour {
        multi_line_hello: true,
        ..Behaviour::default()
    });
    let envelope = smtp_client::Envelope {
        from: "alice@example.org",
        to: "bob@example.org",
        message: "Subject: hi\n\n.a line with a dot\n",
    };
    let mut output = Vec::new();
    smtp_client::send_mail("127.0.0.1", address.port(), &envelope, &mut output).unwrap();
    let mails = server.join().unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["bob@example.org"]);
    assert_eq!(
        mails[0].message,
        b"Subject: hi\r\n\r\n.a line with a dot\r\n"
    );
}

#[test]
fn the_mail_client_stops_when_a_recipient_is_refused() {
    let (address, server) = smtp_server(Behaviour {
        refused_recipients: vec!["nobody@example.org".into()],
        ..Behaviour::default()
    });
    let envelope = smtp_client::Envelope {
        from: "alice@example.org",
        to: "nobody@example.org",
        message: "hello",
    };
    let error = smtp_client::send_mail("127.0.0.1", address.port(), &envelope, &mut Vec::new())
        .unwrap_err();
    assert!(error.to_string().contains("550"), "{error}");
    assert!(
        server.join().unwrap().is_empty(),
        "no mail may be sent after a refusal"
    );
}

/// An origin that answers every request with `body` and counts them.
fn counting_origin(body: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    thread::spawn(move || {
        for connection in listener.incoming() {
            let mut connection = connection.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while http::request_head_end(&request).is_none() {
                match connection.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(length) => request.extend_from_slice(&buffer[..length]),
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let head = http::response_head(200, "OK", "application/octet-stream", body.len());
            let _ = connection.write_all(&head);
            let _ = connection.write_all(body);
        }
    });
    (address, hits)
}

fn through_proxy(proxy: SocketAddr, target: &str) -> Vec<u8> {
    let mut stream = tcp_connect(proxy);
    stream
        .write_all(&http::get_request("localhost", target, "HTTP/1.1"))
        .unwrap();
    let bytes = read_to_close(&stream);
    match http_response::parse_response(&bytes, true) {
        Parsed::Complete(response) => response.body,
        other => panic!("through the proxy, {target} got {other:?}"),
    }
}

#[test]
fn the_proxy_fetches_a_miss_once_and_serves_the_hit_from_its_cache() {
    const BODY: &[u8] = b"\x89PNG\r\n\x1a\n binary \r\n bytes \x00\xff";
    let (origin, hits) = counting_origin(BODY);
    let cache = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let cache_dir = cache.path().to_path_buf();
    thread::spawn(move || web_proxy::serve(listener, cache_dir));

    let short_form = format!("/127.0.0.1:{}/logo.png", origin.port());
    assert_eq!(through_proxy(proxy, &short_form), BODY);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a miss asks the origin once"
    );
    assert_eq!(through_proxy(proxy, &short_form), BODY);
    let absolute_form = format!("http://127.0.0.1:{}/logo.png", origin.port());
    assert_eq!(through_proxy(proxy, &absolute_form), BODY);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "hits are served from the cache"
    );
}

#[test]
fn the_proxy_answers_502_when_the_origin_is_gone_and_keeps_serving() {
    let cache = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let cache_dir = cache.path().to_path_buf();
    thread::spawn(move || web_proxy::serve(listener, cache_dir));
    // A port nothing listens on: bound, then closed.
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for _ in 0..2 {
        let mut stream = tcp_connect(proxy);
        let target = format!("/127.0.0.1:{}/x", gone.port());
        stream
            .write_all(&http::get_request("localhost", &target, "HTTP/1.1"))
            .unwrap();
        let bytes = read_to_close(&stream);
        assert!(
            bytes.starts_with(b"HTTP/1.1 502 "),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}
