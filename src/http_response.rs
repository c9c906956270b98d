//! Reading an HTTP/1.x response as a strict client does (curl, a browser):
//! the part of the web-server lab's rules that the reference client and the
//! grader need, and a server does not. Parsing is done by `httparse`; the
//! checks it leaves to its caller (line endings, what comes before the status
//! line, the body's length) are here, each named in the handout's words.

use std::fmt;

use crate::http::request_head_end;

/// A response as a strict client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    pub status: u16,
    pub reason: String,
    /// Header names as sent; values as bytes (they need not be UTF-8).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Where the head ended and the body began, in the bytes received.
    pub head_length: usize,
    pub body: Vec<u8>,
    /// The `Content-Length` the server declared, if any.
    pub content_length: Option<usize>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Whether the body is `expected`, byte for byte.
    ///
    /// One leniency: a response without `Content-Length` ends when the server
    /// closes the connection, and the handout's solution sends a last `\r\n`
    /// after the file. A browser shows that as nothing at all, so it is
    /// accepted after a body that is otherwise exact.
    pub fn body_is(&self, expected: &[u8]) -> bool {
        self.body == expected
            || (self.content_length.is_none()
                && self.body.len() == expected.len() + 2
                && self.body.starts_with(expected)
                && self.body.ends_with(b"\r\n"))
    }
}

/// Why bytes are not an HTTP response a strict client accepts. Each says the
/// rule in the words of the lab's handout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseFault {
    /// The server closed the connection without sending anything.
    Nothing,
    /// The first bytes are a line ending: a blank line before the status line.
    BlankLineFirst,
    /// The first byte is a space or a tab.
    LeadingSpace,
    /// The bytes do not start with `HTTP/`: no status line at all (often a 404
    /// that sends only its HTML page).
    NoStatusLine,
    /// Line `line` of the head (1 is the status line) ends in LF without CR.
    LfWithoutCr { line: usize },
    /// The connection closed before the blank line that ends the head.
    HeadNotEnded,
    /// The status line or a header breaks HTTP's syntax; httparse's words.
    Syntax(String),
    /// `Content-Length` is not a number.
    BadContentLength(String),
    /// The connection closed before `Content-Length` bytes of body arrived.
    BodyCutShort { declared: usize, received: usize },
    /// More bytes followed the `Content-Length` the server declared: it
    /// counted less than it sent (often characters instead of bytes).
    BodyLongerThanDeclared { declared: usize, received: usize },
    /// `Transfer-Encoding` is not something this lab's servers need.
    TransferEncoding,
}

impl fmt::Display for ResponseFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseFault::Nothing => {
                write!(
                    f,
                    "the server closed the connection without sending a response"
                )
            }
            ResponseFault::BlankLineFirst => write!(
                f,
                "the response starts with a blank line: the status line (`HTTP/1.1 200 OK`) \
                 must be the very first bytes sent"
            ),
            ResponseFault::LeadingSpace => write!(
                f,
                "the response starts with a space: the status line must begin with `HTTP/` \
                 at its first byte"
            ),
            ResponseFault::NoStatusLine => write!(
                f,
                "the response has no status line: it must begin with `HTTP/1.1 <code> <reason>` \
                 before any headers or page"
            ),
            ResponseFault::LfWithoutCr { line } => write!(
                f,
                "line {line} of the response head ends in `\\n` without `\\r`: every line of \
                 the head must end in `\\r\\n`"
            ),
            ResponseFault::HeadNotEnded => write!(
                f,
                "the connection closed before the blank line (`\\r\\n\\r\\n`) that ends the \
                 status line and headers"
            ),
            ResponseFault::Syntax(problem) => {
                write!(
                    f,
                    "the status line or a header is not valid HTTP ({problem})"
                )
            }
            ResponseFault::BadContentLength(value) => {
                write!(f, "`Content-Length: {value}` is not a number of bytes")
            }
            ResponseFault::BodyCutShort { declared, received } => write!(
                f,
                "`Content-Length` promised {declared} bytes but the connection closed after \
                 {received}"
            ),
            ResponseFault::BodyLongerThanDeclared { declared, received } => write!(
                f,
                "`Content-Length` says {declared} bytes but {received} followed the head: it \
                 must count bytes, not characters"
            ),
            ResponseFault::TransferEncoding => write!(
                f,
                "the response uses `Transfer-Encoding`; send `Content-Length` (or nothing) instead"
            ),
        }
    }
}

/// How far reading a response has got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed (the connection is still open).
    Incomplete,
    Complete(Response),
    Malformed(ResponseFault),
}

/// Reads `bytes` as one HTTP/1.x response. `closed` says whether the server
/// has closed the connection, so nothing more will come.
pub fn parse_response(bytes: &[u8], closed: bool) -> Parsed {
    let incomplete = || {
        if closed {
            Parsed::Malformed(if bytes.is_empty() {
                ResponseFault::Nothing
            } else {
                ResponseFault::HeadNotEnded
            })
        } else {
            Parsed::Incomplete
        }
    };
    match bytes.first() {
        None => return incomplete(),
        Some(b'\r' | b'\n') => return Parsed::Malformed(ResponseFault::BlankLineFirst),
        Some(b' ' | b'\t') => return Parsed::Malformed(ResponseFault::LeadingSpace),
        Some(_) => {}
    }
    let prefix_length = bytes.len().min(5);
    if bytes[..prefix_length] != b"HTTP/"[..prefix_length] {
        return Parsed::Malformed(ResponseFault::NoStatusLine);
    }
    let Some(head_length) = request_head_end(bytes) else {
        return incomplete();
    };
    let head = &bytes[..head_length];
    if let Some(line) = line_without_cr(head) {
        return Parsed::Malformed(ResponseFault::LfWithoutCr { line });
    }

    let mut header_slots = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut header_slots);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return incomplete(),
        Err(error) => return Parsed::Malformed(ResponseFault::Syntax(error.to_string())),
    }
    let headers: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|header| (header.name.to_owned(), header.value.to_vec()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    };
    if header("transfer-encoding").is_some() {
        return Parsed::Malformed(ResponseFault::TransferEncoding);
    }
    let content_length = match header("content-length") {
        None => None,
        Some(value) => {
            let text = String::from_utf8_lossy(value).trim().to_owned();
            match text.parse::<usize>() {
                Ok(length) => Some(length),
                Err(_) => return Parsed::Malformed(ResponseFault::BadContentLength(text)),
            }
        }
    };

    let received = &bytes[head_length..];
    let body = match content_length {
        Some(declared) if received.len() > declared => {
            return Parsed::Malformed(ResponseFault::BodyLongerThanDeclared {
                declared,
                received: received.len(),
            });
        }
        Some(declared) if received.len() < declared => {
            if closed {
                return Parsed::Malformed(ResponseFault::BodyCutShort {
                    declared,
                    received: received.len(),
                });
            }
            return Parsed::Incomplete;
        }
        Some(_) => received,
        // Without a length, the body ends where the connection does.
        None if !closed => return Parsed::Incomplete,
        None => received,
    };
    Parsed::Complete(Response {
        minor_version: response.version.unwrap_or(1),
        status: response.code.unwrap_or_default(),
        reason: response.reason.unwrap_or_default().to_owned(),
        headers,
        head_length,
        body: body.to_vec(),
        content_length,
    })
}

/// The number (from 1) of the first line of `head` that ends in LF alone.
fn line_without_cr(head: &[u8]) -> Option<usize> {
    let mut line = 1;
    for (index, &byte) in head.iter().enumerate() {
        if byte == b'\n' {
            if index == 0 || head[index - 1] != b'\r' {
                return Some(line);
            }
            line += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response_head;

    fn complete(bytes: &[u8]) -> Response {
        match parse_response(bytes, true) {
            Parsed::Complete(response) => response,
            other => panic!("expected a complete response, got {other:?}"),
        }
    }

    fn fault(bytes: &[u8]) -> ResponseFault {
        match parse_response(bytes, true) {
            Parsed::Malformed(fault) => fault,
            other => panic!("expected a malformed response, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_well_formed_response_with_a_length() {
        let mut bytes = response_head(200, "OK", "text/html", 5);
        bytes.extend_from_slice(b"hello");
        let response = complete(&bytes);
        assert_eq!(response.status, 200);
        assert_eq!(response.reason, "OK");
        assert_eq!(response.body, b"hello");
        assert_eq!(response.header("content-type"), Some(&b"text/html"[..]));
        assert!(response.body_is(b"hello"));
    }

    #[test]
    fn a_response_without_length_ends_with_the_connection() {
        let bytes = b"HTTP/1.1 200 OK\r\n\r\nhello\r\n";
        assert_eq!(parse_response(bytes, false), Parsed::Incomplete);
        let response = complete(bytes);
        assert!(
            response.body_is(b"hello"),
            "the handout's closing CRLF is accepted"
        );
        assert!(!response.body_is(b"hell"));
    }

    #[test]
    fn names_each_broken_rule() {
        assert_eq!(
            fault(b"\r\nHTTP/1.1 200 OK\r\n\r\n"),
            ResponseFault::BlankLineFirst
        );
        assert_eq!(
            fault(b" HTTP/1.1 200 OK\r\n\r\n"),
            ResponseFault::LeadingSpace
        );
        assert_eq!(fault(b"<html>404</html>"), ResponseFault::NoStatusLine);
        assert_eq!(
            fault(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
            ResponseFault::LfWithoutCr { line: 1 }
        );
        assert_eq!(
            fault(b"HTTP/1.1 200 OK\r\nX: y\r\n"),
            ResponseFault::HeadNotEnded
        );
        assert_eq!(fault(b""), ResponseFault::Nothing);
        assert_eq!(
            fault(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"),
            ResponseFault::BodyCutShort {
                declared: 4,
                received: 2
            }
        );
        assert_eq!(
            fault("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ncafé".as_bytes()),
            ResponseFault::BodyLongerThanDeclared {
                declared: 4,
                received: 5
            }
        );
        assert!(matches!(
            fault(b"HTTP/1.1 abc OK\r\n\r\n"),
            ResponseFault::Syntax(_)
        ));
    }

    #[test]
    fn waits_for_more_while_the_connection_is_open() {
        for partial in [
            &b""[..],
            b"HT",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na",
        ] {
            assert_eq!(
                parse_response(partial, false),
                Parsed::Incomplete,
                "{partial:?}"
            );
        }
    }
}
