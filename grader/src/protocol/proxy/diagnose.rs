//! What a proxy's wrong response most likely means, and what a proxy's
//! error output says when one of its threads stopped: each diagnosis names
//! the mistake in the learner's terms.

use super::super::Mismatch;
use super::{MISDIRECTED, destination};
use crate::diagnose::Diagnosis;
use crate::hint::HintKind;

/// What a response that is not the origin's most likely means, when a known
/// pattern fits. Nothing at all (a closed connection) is left to the test's
/// hint, or to what the proxy's error output says (see [`diagnose_stderr`]).
pub fn diagnose(mismatch: &Mismatch<'_>) -> Option<Diagnosis> {
    let (expected, received) = (mismatch.expected, mismatch.received);
    if received.is_empty() || expected.is_empty() {
        return None;
    }
    if received.len() > expected.len() && received.starts_with(expected) {
        let extra = &received[expected.len()..];
        let finding = if expected.starts_with(extra) {
            format!(
                "Your proxy sent the origin's response ({} bytes), then {} of them again: {} bytes in all.",
                expected.len(),
                if extra.len() == expected.len() {
                    "all".to_owned()
                } else {
                    format!("the first {}", extra.len())
                },
                received.len()
            )
        } else {
            format!(
                "Your proxy sent {} more bytes after the origin's whole response.",
                extra.len()
            )
        };
        return Some(Diagnosis::new(
            HintKind::ProxySentTwice,
            finding,
            "Send the response once: on a miss, send the client what the origin sent and write the same bytes to the cache; do not send the cache file as well.",
        ));
    }
    if received.len() < expected.len() && expected.starts_with(received) {
        return Some(Diagnosis::new(
            HintKind::ProxyCutShort,
            format!(
                "Your proxy sent only the first {} of the origin's {} bytes.",
                received.len(),
                expected.len()
            ),
            "Read the origin's whole response: call recv in a loop until it returns b'' (the origin closes when it is done). One recv(4096) returns only what has arrived so far, at most 4096 bytes.",
        ));
    }
    if received == expected {
        return Some(Diagnosis::new(
            HintKind::ProxyKeptOpen,
            "The origin's whole response arrived, but your proxy kept the connection open.",
            "Close the client's connection once the response is sent: the browser (and the grader) reads until the proxy closes it.",
        ));
    }
    if crlf_to_lf(expected) == crlf_to_lf(received) {
        return Some(Diagnosis::new(
            HintKind::ProxyTextMode,
            "Your proxy changed the response's bytes: its line endings were rewritten ('\\r\\n' became '\\n').",
            "Keep the cache in binary mode: write the origin's bytes with open(cachefile, 'wb'), read them with 'rb', and send them unchanged; a file in text mode rewrites '\\r\\n' and cannot hold an image.",
        ));
    }
    if received.starts_with(MISDIRECTED.as_bytes()) {
        let asked = named_host(received).unwrap_or_else(|| "another host".to_owned());
        let wanted = destination(mismatch.sent).map_or_else(String::new, |to| to.host);
        return Some(Diagnosis::new(
            HintKind::ProxyWrongHost,
            format!(
                "The origin answered `421 Misdirected Request`: your proxy asked it for the host `{asked}`, but the URL named `{wanted}`."
            ),
            "Use the host the URL names exactly as it is written: connect to it, and name it in the Host header (Host: that name, not the browser's Host); adding or changing anything (a 'www.' in front) asks another host.",
        ));
    }
    let status = status_of(received)?;
    let form = match destination(mismatch.sent) {
        Some(_) => target_of(mismatch.sent),
        None => return None,
    };
    let expected_status = status_of(expected)?;
    match status {
        400..=499 if status != expected_status => {
            let (finding, hint) = if form.starts_with("http://") {
                (
                    format!(
                        "Your proxy answered {status} to the absolute form `GET {form}`, which a browser set to use a proxy sends."
                    ),
                    "Accept the absolute form too: when the target starts with 'http://', drop that prefix, then take the host (up to the next '/', with an optional ':port') and the path after it.",
                )
            } else {
                (
                    format!(
                        "Your proxy answered {status} to the assignment's request form `GET {form}`."
                    ),
                    "Accept the assignment's form, GET /host[:port]/path: drop the leading '/', take the host up to the next '/' (with an optional ':port', 80 when none is given) and ask the origin for the rest of the path. Browsers set to use a proxy send GET http://host/path instead: accept both.",
                )
            };
            Some(Diagnosis::new(HintKind::ProxyRequestForm, finding, hint))
        }
        500..=599 => {
            let to = destination(mismatch.sent)?;
            Some(Diagnosis::new(
                HintKind::ProxyOriginError,
                format!(
                    "Your proxy answered {status} instead of the origin's response, although the origin was listening at {}:{}.",
                    to.host, to.port
                ),
                "Connect to exactly the host and port the URL names (port 80 when none is given), send the origin 'GET <path> HTTP/1.0' with 'Host: <host>', and read its response until it closes.",
            ))
        }
        _ => None,
    }
}

/// What the proxy's error output, during a test it failed while it kept
/// running, says about the failure: a thread that stopped on an error the
/// lab's samples meet.
pub fn diagnose_stderr(stderr: &[u8]) -> Option<Diagnosis> {
    let text = String::from_utf8_lossy(stderr);
    if text.contains("unbuffered streams must be binary") {
        return Some(Diagnosis::new(
            HintKind::ProxyUnbufferedMakefile,
            "A thread of your proxy stopped with `ValueError: unbuffered streams must be binary` (its error output is below).",
            "makefile('r', 0) is the Python 2 skeleton's: Python 3 refuses an unbuffered text file. Read the origin's response with recv() in a loop until it returns b'' (or use makefile('rb')), and keep it as bytes.",
        ));
    }
    if text.contains("TypeError: a bytes-like object is required, not 'str'") {
        return Some(Diagnosis::new(
            HintKind::SentStr,
            "A thread of your proxy stopped with `TypeError: a bytes-like object is required, not 'str'` (its error output is below).",
            "Sockets send bytes: encode a str before sending it (header.encode()), or better, send the cached bytes exactly as the origin sent them.",
        ));
    }
    None
}

/// The host a `421` page of the origin says the request named.
fn named_host(response: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(response);
    let after = text.split("the request named the host ").nth(1)?;
    Some(after.split(".</p>").next()?.to_owned())
}

fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|&byte| byte == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    words
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

fn target_of(request: &[u8]) -> String {
    socklab::http::parse_request_line(request)
        .map(|line| line.target)
        .unwrap_or_default()
}

fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::site;
    use super::super::{misdirected, origin_response};
    use super::*;

    fn mismatch<'a>(sent: &'a [u8], expected: &'a [u8], received: &'a [u8]) -> Mismatch<'a> {
        Mismatch {
            sent,
            expected,
            received,
            timed_out: false,
        }
    }

    const HANDOUT: &[u8] =
        b"GET /127.0.0.1:4242/HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

    fn kind(received: &[u8]) -> Option<HintKind> {
        let expected = origin_response(site(), "/HelloWorld.html");
        diagnose(&mismatch(HANDOUT, &expected, received)).map(|found| found.kind)
    }

    #[test]
    fn names_each_proxy_mistake() {
        let expected = origin_response(site(), "/HelloWorld.html");
        assert_eq!(
            kind(&[&expected[..], &expected[..]].concat()),
            Some(HintKind::ProxySentTwice)
        );
        assert_eq!(kind(&expected[..20]), Some(HintKind::ProxyCutShort));
        assert_eq!(kind(&expected), Some(HintKind::ProxyKeptOpen));
        assert_eq!(kind(&crlf_to_lf(&expected)), Some(HintKind::ProxyTextMode));
        assert_eq!(
            kind(&misdirected("www.127.0.0.1")),
            Some(HintKind::ProxyWrongHost)
        );
        assert_eq!(
            kind(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
            Some(HintKind::ProxyRequestForm)
        );
        assert_eq!(
            kind(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"),
            Some(HintKind::ProxyOriginError)
        );
        assert_eq!(kind(b""), None);
        assert_eq!(kind(b"hello"), None);
    }

    #[test]
    fn the_wrong_host_is_named() {
        let expected = origin_response(site(), "/HelloWorld.html");
        let found = diagnose(&mismatch(HANDOUT, &expected, &misdirected("www.127.0.0.1"))).unwrap();
        assert!(
            found.finding.contains("`www.127.0.0.1`"),
            "{}",
            found.finding
        );
        assert!(found.finding.contains("`127.0.0.1`"), "{}", found.finding);
    }

    #[test]
    fn reads_the_threads_that_stopped() {
        let makefile =
            b"Traceback (most recent call last):\nValueError: unbuffered streams must be binary\n";
        assert_eq!(
            diagnose_stderr(makefile).map(|found| found.kind),
            Some(HintKind::ProxyUnbufferedMakefile)
        );
        let str_sent = b"TypeError: a bytes-like object is required, not 'str'\n";
        assert_eq!(
            diagnose_stderr(str_sent).map(|found| found.kind),
            Some(HintKind::SentStr)
        );
        assert_eq!(diagnose_stderr(b"Cache hit: x /y\n"), None);
    }
}
