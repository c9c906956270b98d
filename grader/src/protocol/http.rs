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
use crate::diagnose::Diagnosis;
use crate::hint::{Hint, HintKind};

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
                (200, "OK", rules::content_type(Path::new(&target)), body)
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

/// Whether `kind` names a fault of form that [`forgive_form`] mends.
pub fn is_form_fault(kind: HintKind) -> bool {
    matches!(
        kind,
        HintKind::HttpBlankLineFirst | HintKind::HttpLeadingSpace | HintKind::HttpLfWithoutCr
    )
}

/// What a malformed or wrong response most likely means, in the student's
/// terms: the rule broken and the line of code that usually breaks it.
pub fn diagnose(expected: &Expected, verdict: &Verdict) -> Option<Diagnosis> {
    match verdict {
        Verdict::Incomplete | Verdict::Right(_) => None,
        // Silence has as many causes as the test has steps; the test's own
        // hint names the likely one (binary mode for the PNG, any version
        // for HTTP/1.0, a thread per connection beside an idle client).
        Verdict::Malformed(ResponseFault::Nothing) => None,
        Verdict::Malformed(fault) => Some(diagnose_fault(expected, fault)),
        Verdict::Wrong(Wrong::Status {
            expected: 200,
            response,
        }) if response.status == 404 => {
            let target = match expected {
                Expected::File { target, .. } => target.as_str(),
                _ => "the file",
            };
            Some(Diagnosis::new(
                HintKind::HttpNotFoundForExisting,
                format!("Your server answered 404 Not Found for {target}, which is in its folder."),
                "Open the path without its leading '/': filename[1:] (open('/HelloWorld.html') looks at the root of the whole file system, not beside your server).",
            ))
        }
        Verdict::Wrong(Wrong::Status {
            expected: 404,
            response,
        }) if response.status == 200 => Some(match expected {
            Expected::Refused { target } => Diagnosis::new(
                HintKind::HttpServedOutsideRoot,
                format!(
                    "Your server answered 200 OK for {target}, a path that climbs out of its folder with '..'."
                ),
                "Never serve a file outside the server's folder: refuse any path with a '..' part (answer 404 or 403), or compare the resolved path with the folder's.",
            ),
            _ => Diagnosis::new(
                HintKind::HttpOkForMissing,
                "Your server answered 200 OK for a file that does not exist.",
                "When open() fails (IOError / FileNotFoundError), send 'HTTP/1.1 404 Not Found\\r\\n\\r\\n' instead of the 200 head.",
            ),
        }),
        Verdict::Wrong(Wrong::Status { .. }) => None,
        Verdict::Wrong(Wrong::Body { response }) => {
            let Expected::File { body, .. } = expected else {
                return None;
            };
            Some(diagnose_body(body, response))
        }
    }
}

fn diagnose_fault(expected: &Expected, fault: &ResponseFault) -> Diagnosis {
    let finding = format!("Your server's response breaks a rule of HTTP: {fault}.");
    let (kind, hint) = match fault {
        ResponseFault::Nothing => (
            HintKind::HttpNoResponse,
            "The server closed the connection without answering. Send the whole response (status line, head, blank line, body) before closing; if it crashed, its error output says where.",
        ),
        ResponseFault::BlankLineFirst => (
            HintKind::HttpBlankLineFirst,
            "Send nothing before the status line: remove the '\\r\\n' (or print) that goes out before 'HTTP/1.1 200 OK'.",
        ),
        ResponseFault::LeadingSpace => (
            HintKind::HttpLeadingSpace,
            "Remove the space before HTTP in your status line: ' HTTP/1.1 200 OK' must be 'HTTP/1.1 200 OK'.",
        ),
        ResponseFault::NoStatusLine => match expected {
            Expected::Missing { .. } | Expected::Refused { .. } => (
                HintKind::HttpNoStatusLine,
                "A 404 is a whole response too: send 'HTTP/1.1 404 Not Found\\r\\n\\r\\n' before the page.",
            ),
            Expected::File { .. } | Expected::NoRequest => (
                HintKind::HttpNoStatusLine,
                "Send the status line 'HTTP/1.1 200 OK\\r\\n' and a blank line before the file's bytes.",
            ),
        },
        ResponseFault::LfWithoutCr { .. } => (
            HintKind::HttpLfWithoutCr,
            "End every line of the head with '\\r\\n', not '\\n': 'HTTP/1.1 200 OK\\r\\n', and '\\r\\n' alone for the blank line.",
        ),
        ResponseFault::HeadNotEnded => (
            HintKind::HttpNoBlankLine,
            "End the head with a blank line: '\\r\\n\\r\\n' after the status line (or the last header), then the body.",
        ),
        ResponseFault::Syntax(_) | ResponseFault::BadContentLength(_) => (
            HintKind::HttpSyntax,
            "Write the status line as 'HTTP/1.1 200 OK' and each header as 'Name: value', each ending in '\\r\\n'.",
        ),
        ResponseFault::BodyCutShort { .. } => (
            HintKind::HttpBodyCutShort,
            "Send the whole file: sendall() (Python) or write_all() (Rust) sends everything; a single send() may send only part of it.",
        ),
        ResponseFault::BodyLongerThanDeclared { .. } => (
            HintKind::HttpLengthInCharacters,
            "Content-Length must count bytes: take len() of the bytes you send (data.encode() or the file opened in 'rb'), not of the str, whose len() counts characters.",
        ),
        ResponseFault::TransferEncoding => (
            HintKind::HttpSyntax,
            "Send the body as it is, with Content-Length (or no length at all), without Transfer-Encoding.",
        ),
    };
    Diagnosis::new(kind, finding, hint)
}

fn diagnose_body(expected: &[u8], response: &Response) -> Diagnosis {
    let got = &response.body;
    let binary = std::str::from_utf8(expected).is_err();
    if got.len() < expected.len() && expected.starts_with(got) {
        return Diagnosis::new(
            HintKind::HttpBodyCutShort,
            format!(
                "Your server sent only the first {} of the file's {} bytes.",
                got.len(),
                expected.len()
            ),
            "Send the whole file: read all of it, and send it with sendall() (Python) or write_all() (Rust), not one send().",
        );
    }
    let line_endings_rewritten = replace_crlf(expected) == replace_crlf(got) && got != expected;
    if binary || line_endings_rewritten {
        return Diagnosis::new(
            HintKind::HttpBinaryCorrupted,
            format!(
                "The body is not the file's bytes: {} bytes arrived for a file of {}.",
                got.len(),
                expected.len()
            ),
            "Open files in binary mode, open(filename, 'rb'), and send the bytes as they are: text mode decodes and re-encodes them, which breaks images and line endings.",
        );
    }
    Diagnosis::new(
        HintKind::HttpWrongBody,
        format!(
            "The body is not the file's content: {} bytes arrived for a file of {}.",
            got.len(),
            expected.len()
        ),
        "Send the requested file's content after the blank line, and nothing else.",
    )
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
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The bytes with every `\r\n` made `\n`: equal for two texts that differ
/// only in their line endings.
fn replace_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            index += 1;
        }
        out.push(bytes[index]);
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(BTreeMap::from([
            ("HelloWorld.html".to_owned(), b"<h1>Hi</h1>\r\n".to_vec()),
            (
                "images/logo.png".to_owned(),
                b"\x89PNG\r\n\x1a\n\xff".to_vec(),
            ),
            ("international.html".to_owned(), "café".as_bytes().to_vec()),
        ]))
    }

    fn response(status: &str, body: &[u8]) -> Vec<u8> {
        let mut bytes = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    fn get(target: &str) -> Vec<u8> {
        rules::get_request("localhost", target, "HTTP/1.1")
    }

    fn kind_of(expected: &Expected, received: &[u8]) -> Option<HintKind> {
        diagnose(expected, &judge(expected, received, true, false)).map(|diagnosis| diagnosis.kind)
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

    #[test]
    fn names_the_bug_behind_each_wrong_answer() {
        let site = site();
        let hello = site.expected(&get("/HelloWorld.html"));
        let body = b"<h1>Hi</h1>\r\n";
        let mut blank_first = b"\r\n".to_vec();
        blank_first.extend(response("200 OK", body));
        let mut space_first = b" ".to_vec();
        space_first.extend(response("200 OK", body));
        assert_eq!(
            kind_of(&hello, &blank_first),
            Some(HintKind::HttpBlankLineFirst)
        );
        assert_eq!(
            kind_of(&hello, &space_first),
            Some(HintKind::HttpLeadingSpace)
        );
        assert_eq!(
            kind_of(&hello, b"HTTP/1.1 200 OK\n\n<h1>Hi</h1>\r\n"),
            Some(HintKind::HttpLfWithoutCr)
        );
        assert_eq!(
            kind_of(&hello, &response("404 Not Found", b"")),
            Some(HintKind::HttpNotFoundForExisting)
        );
        assert_eq!(
            kind_of(&hello, &response("200 OK", b"<h1>")),
            Some(HintKind::HttpBodyCutShort)
        );
        assert_eq!(
            kind_of(&hello, &response("200 OK", b"<h1>Hi</h1>\n")),
            Some(HintKind::HttpBinaryCorrupted)
        );
        assert_eq!(
            kind_of(&hello, b""),
            None,
            "silence: the test's own hint stands"
        );

        let missing = site.expected(&get("/nope.html"));
        assert_eq!(
            kind_of(&missing, b"<html>404</html>"),
            Some(HintKind::HttpNoStatusLine)
        );
        assert_eq!(
            kind_of(&missing, &response("200 OK", b"x")),
            Some(HintKind::HttpOkForMissing)
        );
        assert_eq!(kind_of(&missing, &response("404 Not Found", b"")), None);

        let climb = site.expected(&get("/../secret.txt"));
        assert_eq!(
            kind_of(&climb, &response("200 OK", b"secret")),
            Some(HintKind::HttpServedOutsideRoot)
        );
        assert_eq!(kind_of(&climb, &response("403 Forbidden", b"")), None);

        let png = site.expected(&get("/images/logo.png"));
        let as_text = String::from_utf8_lossy(b"\x89PNG\r\n\x1a\n\xff").into_owned();
        assert_eq!(
            kind_of(&png, &response("200 OK", as_text.as_bytes())),
            Some(HintKind::HttpBinaryCorrupted)
        );

        let international = site.expected(&get("/international.html"));
        let counted_characters = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ncafé".as_bytes();
        assert_eq!(
            kind_of(&international, counted_characters),
            Some(HintKind::HttpLengthInCharacters)
        );
    }
}
