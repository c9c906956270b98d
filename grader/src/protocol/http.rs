//! HTTP/1.x, the protocol of the web-server lab: what a correct server
//! answers to a request for a file of the lab's document root, whether what
//! arrived is that answer, and what a wrong answer most likely means.
//!
//! The rules of a well-formed response, and the reference response itself,
//! are the reference crate's (`socklab::http`): the grader judges with the
//! same parser the reference client reads with, so "curl would reject this"
//! and "the grader rejects this" are one statement.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use socklab::http::{self as rules, Resolved};
use socklab::http_response::{Parsed, Response, ResponseFault, parse_response};

use super::{AfterTurn, ClientSymptom, PeerTurn};
use crate::hint::{Hint, HintKind};

mod diagnose;

pub use diagnose::{diagnose, is_form_fault};

/// The name of the file the runner puts one folder *above* the working
/// copy, where a server that serves `/../` paths would find it: a test asks
/// for it and expects a refusal.
pub const OUTSIDE_FILE: &str = "socklab-outside.txt";

/// The bytes of [`OUTSIDE_FILE`].
pub const OUTSIDE_CONTENT: &[u8] =
    b"This file is outside the web server's folder: no request may reach it.\n";

/// The files a web-server lab serves, by path under the document root
/// (`images/logo.png`), as the grader placed them beside the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    files: BTreeMap<String, Vec<u8>>,
}

impl Site {
    pub fn new(files: BTreeMap<String, Vec<u8>>) -> Site {
        Site { files }
    }

    /// The one shared copy of `site` for the rest of the process.
    ///
    /// A lab's files are read-only data that every test of every grading
    /// reads; interning them keeps [`super::Protocol`] a `Copy` value, and
    /// loading the same lab again (a batch, a test suite) reuses the copy
    /// instead of keeping one more.
    pub fn intern(site: Site) -> &'static Site {
        static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());
        let mut sites = SITES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = sites.iter().find(|known| ***known == site) {
            return known;
        }
        let leaked: &'static Site = Box::leak(Box::new(site));
        sites.push(leaked);
        leaked
    }

    /// The reference server's whole response to `request`, as bytes.
    pub fn reference_response(&self, request: &[u8]) -> Vec<u8> {
        let (status, reason, content_type, body) = match self.expected(request) {
            Expected::File { target, body } => {
                (
                    200,
                    "OK",
                    // The type is the file's: a query (`?x=1`) is no part of its name.
                    rules::content_type(Path::new(target.split('?').next().unwrap_or(&target))),
                    body,
                )
            }
            Expected::Missing { target } | Expected::Refused { target } => (
                404,
                "Not Found",
                "text/html; charset=utf-8",
                rules::not_found_body(&target),
            ),
            Expected::NoRequest => return Vec::new(),
        };
        let mut response = rules::response_head(status, reason, content_type, body.len());
        response.extend_from_slice(&body);
        response
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
    }

    /// What a correct server answers to `request` (the bytes sent).
    pub fn expected(&self, request: &[u8]) -> Expected {
        let Ok(line) = rules::parse_request_line(request) else {
            return Expected::NoRequest;
        };
        match rules::resolve(Path::new("/"), &line.target) {
            Resolved::Outside => Expected::Refused {
                target: line.target,
            },
            Resolved::Inside(path) => {
                let relative = path.to_string_lossy().trim_start_matches('/').to_owned();
                match self.files.get(&relative) {
                    Some(body) => Expected::File {
                        target: line.target,
                        body: body.clone(),
                    },
                    None => Expected::Missing {
                        target: line.target,
                    },
                }
            }
        }
    }
}

/// The answer a correct server gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// `200` and exactly these bytes.
    File { target: String, body: Vec<u8> },
    /// A well-formed `404` (any body).
    Missing { target: String },
    /// The target climbs out of the document root: any well-formed `4xx`,
    /// never the file.
    Refused { target: String },
    /// What was sent is not a request: nothing is expected (an empty
    /// connection; the test checks that the server keeps serving).
    NoRequest,
}

impl Expected {
    /// The expected answer as a failure message shows it: the status line
    /// and how many bytes of which file, never 300 KiB of body.
    pub fn describe(&self) -> String {
        match self {
            Expected::File { target, body } => format!(
                "`HTTP/1.1 200 OK`, head lines ending in \\r\\n, a blank line, then the {} bytes of {target}",
                body.len()
            ),
            Expected::Missing { target } => {
                format!("a well-formed `HTTP/1.1 404 Not Found` response for {target}")
            }
            Expected::Refused { target } => format!(
                "a refusal (`404 Not Found` or `403 Forbidden`) for {target}, which is outside the folder"
            ),
            Expected::NoRequest => "nothing in particular (that was not a request)".to_owned(),
        }
    }
}

/// What arrived so far, judged against the expected answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A well-formed start; more is needed before it can be judged.
    Incomplete,
    /// The whole answer arrived, and it is right.
    Right(Response),
    /// Well-formed, but not the right answer.
    Wrong(Wrong),
    /// Not a response a strict client accepts.
    Malformed(ResponseFault),
}

/// How a well-formed response was not the right one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrong {
    Status { expected: u16, response: Response },
    Body { response: Response },
}

/// Judges `received` (everything the server sent on the connection) against
/// `expected`; `closed` says the server has closed its side, so no more
/// will come.
/// `lenient` forgives what a lenient browser forgives in the form of the
/// head (see [`forgive_form`]); everything about the body still counts.
pub fn judge(expected: &Expected, received: &[u8], closed: bool, lenient: bool) -> Verdict {
    let forgiven;
    let received = if lenient {
        forgiven = forgive_form(received);
        forgiven.as_slice()
    } else {
        received
    };
    // A test about the `..` refusal asks only that the file outside the
    // folder is not served; how a lenient browser would read the refusal is
    // another test's business.
    if let (Expected::Refused { .. }, true) = (expected, lenient) {
        if contains(received, OUTSIDE_CONTENT) {
            if let Parsed::Complete(response) = parse_response(received, closed) {
                return Verdict::Wrong(Wrong::Status {
                    expected: 404,
                    response,
                });
            }
        } else if closed {
            if let Parsed::Malformed(_) = parse_response(received, closed) {
                return Verdict::Right(Response {
                    minor_version: 1,
                    status: 0,
                    reason: String::new(),
                    headers: Vec::new(),
                    head_length: received.len(),
                    body: Vec::new(),
                    content_length: None,
                });
            }
        }
    }
    let response = match parse_response(received, closed) {
        Parsed::Incomplete => return Verdict::Incomplete,
        Parsed::Malformed(fault) => return Verdict::Malformed(fault),
        Parsed::Complete(response) => response,
    };
    match expected {
        Expected::File { body, .. } => {
            if response.status != 200 {
                Verdict::Wrong(Wrong::Status {
                    expected: 200,
                    response,
                })
            } else if !response.body_is(body) {
                Verdict::Wrong(Wrong::Body { response })
            } else {
                Verdict::Right(response)
            }
        }
        Expected::Missing { .. } if response.status == 404 => Verdict::Right(response),
        Expected::Missing { .. } => Verdict::Wrong(Wrong::Status {
            expected: 404,
            response,
        }),
        Expected::Refused { .. } if (400..500).contains(&response.status) => {
            Verdict::Right(response)
        }
        Expected::Refused { .. } => Verdict::Wrong(Wrong::Status {
            expected: 404,
            response,
        }),
        // Whatever a server says to a non-request is its business.
        Expected::NoRequest => Verdict::Right(response),
    }
}

/// The response with the faults of form that browsers forgive mended, for
/// tests about something else: line endings and blank lines or spaces before
/// the status line. What a stricter test of the lab checks (the form) is
/// then charged by that test alone. The body is never touched: its bytes
/// and its length are what every test checks.
pub fn forgive_form(received: &[u8]) -> Vec<u8> {
    let start = received
        .iter()
        .position(|byte| !matches!(byte, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(received.len());
    let received = &received[start..];
    let Some(head_end) = rules::request_head_end(received) else {
        return received.to_vec();
    };
    let mut mended = Vec::with_capacity(received.len() + 16);
    for (index, &byte) in received[..head_end].iter().enumerate() {
        if byte == b'\n' && (index == 0 || received[index - 1] != b'\r') {
            mended.push(b'\r');
        }
        mended.push(byte);
    }
    mended.extend_from_slice(&received[head_end..]);
    mended
}

/// The grader-played web server of a client test: reads one request and
/// answers it as the reference server would, then closes.
#[derive(Clone, Debug)]
pub struct HttpPeer {
    site: &'static Site,
    request: Vec<u8>,
}

impl HttpPeer {
    pub(super) fn new(site: &'static Site) -> HttpPeer {
        HttpPeer {
            site,
            request: Vec::new(),
        }
    }

    pub(super) fn on_stream(&mut self, bytes: &[u8]) -> PeerTurn {
        self.request.extend_from_slice(bytes);
        match rules::request_head_end(&self.request) {
            Some(_) => PeerTurn {
                reply: Some(self.site.reference_response(&self.request)),
                then: AfterTurn::Close,
            },
            None => PeerTurn {
                reply: None,
                then: AfterTurn::KeepReading,
            },
        }
    }
}

/// What a correct client sends when asked for the path on the first line of
/// its standard input.
pub(super) fn client_request(stdin: &[u8]) -> Vec<u8> {
    let line = String::from_utf8_lossy(stdin.split(|&b| b == b'\n').next().unwrap_or_default())
        .trim()
        .to_owned();
    let target = if line.starts_with('/') {
        line
    } else {
        format!("/{line}")
    };
    rules::get_request("localhost", &target, "HTTP/1.1")
}

pub(super) fn client_hint(symptom: ClientSymptom) -> Option<Hint> {
    match symptom {
        ClientSymptom::NothingToAnswer => Some(Hint::new(
            HintKind::ClientSentNoLine,
            "The grader's web server got no complete request: end the request line and every header with '\\r\\n', and the request with a blank line ('\\r\\n\\r\\n').",
        )),
        ClientSymptom::RepliesNotPrinted => Some(Hint::new(
            HintKind::ClientFirstReplyOnly,
            "Print the whole response: keep reading until the server closes the connection (recv returns b''), not just once.",
        )),
        ClientSymptom::StillRunning => None,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::protocol) fn site() -> Site {
        Site::new(BTreeMap::from([
            ("HelloWorld.html".to_owned(), b"<h1>Hi</h1>\r\n".to_vec()),
            (
                "images/logo.png".to_owned(),
                b"\x89PNG\r\n\x1a\n\xff".to_vec(),
            ),
            ("international.html".to_owned(), "café".as_bytes().to_vec()),
        ]))
    }

    pub(super) fn response(status: &str, body: &[u8]) -> Vec<u8> {
        let mut bytes = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    pub(super) fn get(target: &str) -> Vec<u8> {
        rules::get_request("localhost", target, "HTTP/1.1")
    }

    #[test]
    fn expects_the_file_a_404_or_a_refusal() {
        let site = site();
        assert!(matches!(
            site.expected(&get("/HelloWorld.html")),
            Expected::File { .. }
        ));
        assert!(matches!(
            site.expected(&get("/images/logo.png?x=1")),
            Expected::File { .. }
        ));
        assert!(matches!(
            site.expected(&get("/nope.html")),
            Expected::Missing { .. }
        ));
        assert!(matches!(
            site.expected(&get("/../etc/passwd")),
            Expected::Refused { .. }
        ));
        assert_eq!(site.expected(b""), Expected::NoRequest);
    }

    #[test]
    fn a_right_answer_is_right_only_when_whole() {
        let expected = site().expected(&get("/HelloWorld.html"));
        let bytes = response("200 OK", b"<h1>Hi</h1>\r\n");
        assert!(matches!(
            judge(&expected, &bytes, true, false),
            Verdict::Right(_)
        ));
        assert_eq!(
            judge(&expected, &bytes[..bytes.len() - 3], false, false),
            Verdict::Incomplete
        );
        // The handout's solution: no length, the file, then "\r\n", then close.
        let handout = b"HTTP/1.1 200 OK\r\n\r\n<h1>Hi</h1>\r\n\r\n";
        assert!(matches!(
            judge(&expected, handout, true, false),
            Verdict::Right(_)
        ));
    }

    #[test]
    fn lenient_judging_forgives_the_form_and_nothing_else() {
        let expected = site().expected(&get("/HelloWorld.html"));
        let body = b"<h1>Hi</h1>\r\n";
        for form in [&b"\r\n"[..], b" "] {
            let mut bytes = form.to_vec();
            bytes.extend(response("200 OK", body));
            assert!(matches!(
                judge(&expected, &bytes, true, false),
                Verdict::Malformed(_)
            ));
            assert!(matches!(
                judge(&expected, &bytes, true, true),
                Verdict::Right(_)
            ));
        }
        let lf_only = b"HTTP/1.1 200 OK\nContent-Length: 13\n\n<h1>Hi</h1>\r\n";
        assert!(matches!(
            judge(&expected, lf_only, true, true),
            Verdict::Right(_)
        ));
        let counted_characters = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ncafé".as_bytes();
        let international = site().expected(&get("/international.html"));
        assert!(matches!(
            judge(&international, counted_characters, true, true),
            Verdict::Malformed(ResponseFault::BodyLongerThanDeclared { .. })
        ));
        assert!(matches!(
            judge(&expected, &response("200 OK", b"<h1>"), true, true),
            Verdict::Malformed(_) | Verdict::Wrong(_)
        ));
    }
}
