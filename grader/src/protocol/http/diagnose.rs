//! What a malformed or wrong HTTP response most likely means, in the
//! student's terms: the rule broken and the line of code that usually
//! breaks it; or nothing, where the test's own hint says it better.

use socklab::http_response::{Response, ResponseFault};

use super::{Expected, Verdict, Wrong};
use crate::diagnose::Diagnosis;
use crate::hint::HintKind;

/// Whether `kind` names a fault of form that [`super::forgive_form`] mends.
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
    use super::super::judge;
    use super::super::tests::{get, response, site};
    use super::*;

    fn kind_of(expected: &Expected, received: &[u8]) -> Option<HintKind> {
        diagnose(expected, &judge(expected, received, true, false)).map(|diagnosis| diagnosis.kind)
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
