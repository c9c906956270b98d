//! The web-proxy lab's protocol: the grader is the browser, sending requests
//! through the student's proxy, and at the same time the origin server the
//! proxy fetches from, counting how often each path is asked for.
//!
//! What a correct proxy answers is what the origin sent it, byte for byte:
//! the origin's response to the path the request names (the origin serves
//! the lab's files as the web-server lab's reference does, with a `404` for
//! a missing one). The destination is read from the request with the
//! reference proxy's own [`socklab::web_proxy::destination`], in either of
//! its forms (`GET /host[:port]/path`, `GET http://host[:port]/path`).

use std::collections::BTreeMap;

use socklab::http as rules;
use socklab::web_proxy;

use super::http::Site;
use super::{AfterTurn, Judgement, PeerTurn};

mod diagnose;

pub use diagnose::{diagnose, diagnose_stderr};

/// The origin's host name where the grader gives the proxy a network of its
/// own (the namespace tier): every name resolves to the cell and the origin
/// listens on port 80 of every address, so `{origin}` in a request is this
/// name, as the handout's `www.example.com` is. (The textbook's own server:
/// no `www.` in front, so a proxy that adds one is seen asking for another
/// host.) Elsewhere `{origin}` is `127.0.0.1:PORT`.
pub const ORIGIN_HOST: &str = "gaia.cs.umass.edu";

/// The origin's whole response for `target` (a path, with any query).
pub fn origin_response(site: &Site, target: &str) -> Vec<u8> {
    site.reference_response(&rules::get_request(ORIGIN_HOST, target, "HTTP/1.1"))
}

/// Where a request to the proxy wants to go, if it names a destination.
pub fn destination(request: &[u8]) -> Option<web_proxy::Destination> {
    let line = rules::parse_request_line(request).ok()?;
    web_proxy::destination(&line.target)
}

/// The response a correct proxy sends for `request`: the origin's, as it
/// sent it. Nothing when the request names no destination.
pub fn expected_reply(site: &Site, request: &[u8]) -> Vec<u8> {
    destination(request).map_or_else(Vec::new, |to| origin_response(site, &to.path))
}

/// The expected reply as a failure message shows it: never 300 KiB of body.
pub fn describe_reply(site: &Site, request: &[u8]) -> String {
    match destination(request) {
        Some(to) => {
            let response = origin_response(site, &to.path);
            let status = response
                .split(|&byte| byte == b'\r')
                .next()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            format!(
                "the origin's response to GET {}, byte for byte: `{status}`, {} bytes in all, then the connection closed",
                to.path,
                response.len()
            )
        }
        None => "nothing in particular (that request names no origin)".to_owned(),
    }
}

/// Judges what the proxy sent so far against the origin's response: byte
/// for byte as it arrives, and complete only once the proxy has closed the
/// connection, so that a response sent twice is seen.
pub fn judge(expected: &[u8], received: &[u8], closed: bool) -> Judgement {
    let common = received.len().min(expected.len());
    if received[..common] != expected[..common] || received.len() > expected.len() {
        Judgement::Mismatch
    } else if received.len() == expected.len() && closed {
        Judgement::Match {
            length: received.len(),
        }
    } else {
        Judgement::Incomplete
    }
}

/// What one request to the origin asks for: the target as the origin reads
/// it (a path with its query; an absolute-form target loses its scheme and
/// host) and the host it names (the absolute form's, or the `Host` header's,
/// without a port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginRequest {
    pub target: String,
    pub host: Option<String>,
}

/// Reads the head of a request the proxy sent the origin.
pub fn origin_request(request: &[u8]) -> Option<OriginRequest> {
    let line = rules::parse_request_line(request).ok()?;
    let (target, absolute_host) = match line.target.strip_prefix("http://") {
        Some(rest) => {
            let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
            (path.to_owned(), Some(without_port(authority)))
        }
        None => (line.target.clone(), None),
    };
    let head_end = rules::request_head_end(request).unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..head_end]);
    let header_host = head.lines().skip(1).find_map(|header| {
        let (name, value) = header.split_once(':')?;
        // An empty Host names no host: the origin takes it as none.
        (name.trim().eq_ignore_ascii_case("host") && !value.trim().is_empty())
            .then(|| without_port(value.trim()))
    });
    Some(OriginRequest {
        target,
        host: absolute_host.or(header_host),
    })
}

fn without_port(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => host.to_owned(),
        _ => authority.to_owned(),
    }
}

/// The host names the origin answers to: its name in the namespace tier,
/// and its address (`127.0.0.1`), which is also its name in the process tier.
fn is_origin_host(host: &str) -> bool {
    host.eq_ignore_ascii_case(ORIGIN_HOST) || host == crate::cell::CELL_HOST.to_string()
}

/// The status line of the origin's answer to a request that names another
/// host than the origin's.
pub const MISDIRECTED: &str = "HTTP/1.1 421 Misdirected Request";

/// The origin's answer to a request naming `host`, which is not its own.
fn misdirected(host: &str) -> Vec<u8> {
    let body = format!(
        "<html><body><h1>421 Misdirected Request</h1><p>This origin is {ORIGIN_HOST}; the request named the host {host}.</p></body></html>\n"
    );
    let mut response = format!(
        "{MISDIRECTED}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

/// How many times the origin was asked for each target, from the bytes of
/// each connection it accepted (in order).
pub fn hits(connections: &[Vec<u8>]) -> BTreeMap<String, u32> {
    let mut hits = BTreeMap::new();
    for request in connections {
        if let Some(asked) = origin_request(request) {
            *hits.entry(asked.target).or_insert(0) += 1;
        }
    }
    hits
}

/// The grader-played origin for one connection from the proxy: reads one
/// request (either form), answers it as the web-server lab's reference
/// would, or with `421` when it names another host, then closes.
#[derive(Clone, Debug)]
pub struct OriginPeer {
    site: &'static Site,
    request: Vec<u8>,
}

impl OriginPeer {
    pub(super) fn new(site: &'static Site) -> OriginPeer {
        OriginPeer {
            site,
            request: Vec::new(),
        }
    }

    pub(super) fn on_stream(&mut self, bytes: &[u8]) -> PeerTurn {
        self.request.extend_from_slice(bytes);
        if rules::request_head_end(&self.request).is_none() {
            return PeerTurn {
                reply: None,
                then: AfterTurn::KeepReading,
            };
        }
        let reply = match origin_request(&self.request) {
            Some(OriginRequest {
                host: Some(host), ..
            }) if !is_origin_host(&host) => misdirected(&host),
            Some(asked) => origin_response(self.site, &asked.target),
            None => Vec::new(),
        };
        PeerTurn {
            reply: Some(reply),
            then: AfterTurn::Close,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn site() -> &'static Site {
        Site::intern(super::super::http::tests::site())
    }

    #[test]
    fn expects_the_origins_response_for_either_form() {
        let site = site();
        let handout = b"GET /127.0.0.1:4242/HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let absolute = b"GET http://gaia.cs.umass.edu/HelloWorld.html HTTP/1.1\r\n\r\n";
        let expected = origin_response(site, "/HelloWorld.html");
        assert!(expected.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(expected_reply(site, handout), expected);
        assert_eq!(expected_reply(site, absolute), expected);
        assert!(origin_response(site, "/nope.html").starts_with(b"HTTP/1.1 404"));
        assert!(
            expected_reply(site, b"GET /index.html HTTP/1.1\r\n\r\n").starts_with(b"HTTP/1.1 404")
        );
        assert_eq!(expected_reply(site, b"GET nothing HTTP/1.1\r\n\r\n"), b"");
    }

    #[test]
    fn complete_only_when_closed_and_never_longer() {
        let expected = b"HTTP/1.1 200 OK\r\n\r\nhi";
        assert_eq!(judge(expected, b"HTTP/1.1", false), Judgement::Incomplete);
        assert_eq!(judge(expected, expected, false), Judgement::Incomplete);
        assert_eq!(
            judge(expected, expected, true),
            Judgement::Match {
                length: expected.len()
            }
        );
        assert_eq!(judge(expected, b"HTTP/1.0", false), Judgement::Mismatch);
        let twice = [&expected[..], &expected[..]].concat();
        assert_eq!(judge(expected, &twice, false), Judgement::Mismatch);
    }

    #[test]
    fn the_origin_counts_targets_and_refuses_other_hosts() {
        let asked = origin_request(
            b"GET http://gaia.cs.umass.edu:80/a.html?x HTTP/1.0\r\nHost: localhost:8888\r\n\r\n",
        )
        .unwrap();
        assert_eq!(asked.target, "/a.html?x");
        assert_eq!(asked.host.as_deref(), Some("gaia.cs.umass.edu"));
        let plain =
            origin_request(b"GET /a.html HTTP/1.0\r\nhost: 127.0.0.1:5000\r\n\r\n").unwrap();
        assert_eq!(plain.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            hits(&[
                b"GET /a HTTP/1.0\r\n\r\n".to_vec(),
                b"GET http://h/a HTTP/1.0\r\n\r\n".to_vec(),
                b"GET /b HTTP/1.0\r\n\r\n".to_vec(),
                Vec::new(),
            ]),
            BTreeMap::from([("/a".to_owned(), 2), ("/b".to_owned(), 1)])
        );
        let mut peer = OriginPeer::new(site());
        assert_eq!(
            peer.on_stream(b"GET /HelloWorld.html HTTP/1.0\r\n").reply,
            None
        );
        let turn = peer.on_stream(b"Host: www.gaia.cs.umass.edu\r\n\r\n");
        assert!(turn.reply.unwrap().starts_with(MISDIRECTED.as_bytes()));
        let mut peer = OriginPeer::new(site());
        let turn =
            peer.on_stream(b"GET /HelloWorld.html HTTP/1.0\r\nHost: gaia.cs.umass.edu\r\n\r\n");
        assert_eq!(
            turn.reply.unwrap(),
            origin_response(site(), "/HelloWorld.html")
        );
        assert_eq!(turn.then, AfterTurn::Close);
    }
}
