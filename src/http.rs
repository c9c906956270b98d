//! The small part of HTTP/1.1 that the web-server lab needs, as pure
//! functions: no sockets, no files opened here except through [`resolve`].
//!
//! The reference server ([`crate::web_server`]) answers requests with
//! [`response_head`] and [`not_found_body`]; the reference client builds its
//! request with [`get_request`] and reads the answer with
//! [`crate::http_response::parse_response`], which is apart because it uses
//! a parser crate and a server needs only the standard library. The grader
//! calls the very same functions to know what a correct server sends and to
//! judge what a student's server sent, so the lab has one definition of
//! "correct".
//!
//! An HTTP response is text up to its first blank line, then bytes:
//!
//! ```text
//! HTTP/1.1 200 OK\r\n                 <- the status line: version, code, reason
//! Content-Type: text/html\r\n         <- headers, one per line
//! Content-Length: 1234\r\n
//! \r\n                                <- a blank line ends the head
//! <html>...                           <- the body: the file's bytes, exactly
//! ```
//!
//! Every line of the head ends in CR LF (`\r\n`), not LF alone. Browsers are
//! lenient about some of these rules and strict about others; the lab is
//! strict about all of them, so a server that passes works everywhere.

use std::path::{Component, Path, PathBuf};

/// The most a request's head may take. A browser's GET is a few hundred
/// bytes; anything far larger is not a request this lab needs to answer.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// What the first line of a request says: `GET /HelloWorld.html HTTP/1.1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    /// The path asked for, as sent (`/HelloWorld.html`).
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
}

/// Why a request could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The connection closed before anything arrived: a browser's
    /// "preconnect", or a port scanner. Not an error worth an answer.
    Empty,
    /// The first line is not `METHOD TARGET VERSION`.
    Malformed(String),
}

/// Where a request head ends: just after its blank line, if it has arrived.
/// Accepts a bare LF as well as CR LF, as servers are told to be lenient in
/// what they accept.
pub fn request_head_end(bytes: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\n' {
            let line = &bytes[line_start..index];
            if line.is_empty() || line == b"\r" {
                return Some(index + 1);
            }
            line_start = index + 1;
        }
    }
    None
}

/// Reads the request line out of what a client sent.
///
/// This is the handout's `filename = message.split()[1]`, with the checks the
/// handout leaves out: an empty message (where `split()[1]` raises
/// `IndexError`) and a line with the wrong number of words.
pub fn parse_request_line(request: &[u8]) -> Result<RequestLine, RequestError> {
    if request.is_empty() {
        return Err(RequestError::Empty);
    }
    let first_line = request
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or(request);
    let first_line = String::from_utf8_lossy(first_line);
    let words: Vec<&str> = first_line.split_whitespace().collect();
    match words.as_slice() {
        [method, target, version] if version.starts_with("HTTP/") => Ok(RequestLine {
            method: (*method).to_owned(),
            target: (*target).to_owned(),
            version: (*version).to_owned(),
        }),
        _ => Err(RequestError::Malformed(first_line.trim_end().to_owned())),
    }
}

/// What a request's target names under the document root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A path inside the root; it may or may not exist.
    Inside(PathBuf),
    /// The target climbs out of the root (`/../secret`) or is not a plain
    /// path. Answered like a missing file: a server must never reveal what
    /// lies outside its root, not even that it exists.
    Outside,
}

/// Maps a request target (`/images/logo.png?size=2`) to a path under `root`.
///
/// The handout's `open(filename[1:])` drops the leading `/` and opens the rest
/// relative to the working directory, which also opens `../../etc/passwd`.
/// Here every part of the path must be a plain name: `..`, an absolute path
/// or a drive prefix is refused. `/` alone means `index.html`.
pub fn resolve(root: &Path, target: &str) -> Resolved {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let Some(relative) = path.strip_prefix('/') else {
        return Resolved::Outside;
    };
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let mut resolved = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(name) => resolved.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Resolved::Outside;
            }
        }
    }
    Resolved::Inside(resolved)
}

/// The `Content-Type` a browser needs to show a file, from its extension.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The status line and headers of a response, blank line included.
///
/// `Content-Length` is the body's length in **bytes**: Python's `len()` of a
/// `str` counts characters, which differs as soon as the file holds a
/// character outside ASCII (`é` is two bytes in UTF-8).
pub fn response_head(status: u16, reason: &str, content_type: &str, body_length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {body_length}\r\n\
         Connection: close\r\n\
         \r\n"
    )
    .into_bytes()
}

/// The page a missing file gets, so a browser shows more than a blank page.
pub fn not_found_body(target: &str) -> Vec<u8> {
    let shown = escape_html(target);
    format!(
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n\
         <body><h1>404 Not Found</h1><p>{shown} is not on this server.</p></body></html>\n"
    )
    .into_bytes()
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A minimal, correct GET request, as the lab's client sends it and as the
/// grader sends it to a student's server.
pub fn get_request(host: &str, target: &str, version: &str) -> Vec<u8> {
    format!("GET {target} {version}\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_resolves_outside_the_root() {
        let root = Path::new("/srv/www");
        assert_eq!(
            resolve(root, "/a/b.html?x=1"),
            Resolved::Inside("/srv/www/a/b.html".into())
        );
        assert_eq!(
            resolve(root, "/"),
            Resolved::Inside("/srv/www/index.html".into())
        );
        for target in ["/../etc/passwd", "/a/../../x", "//etc/passwd", "etc/passwd"] {
            assert_eq!(resolve(root, target), Resolved::Outside, "{target}");
        }
    }

    #[test]
    fn reads_request_lines_and_refuses_what_is_not_one() {
        let line = parse_request_line(b"GET /x.html HTTP/1.0\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(
            (line.method.as_str(), line.target.as_str()),
            ("GET", "/x.html")
        );
        assert_eq!(line.version, "HTTP/1.0");
        assert_eq!(parse_request_line(b""), Err(RequestError::Empty));
        assert!(matches!(
            parse_request_line(b"hello\r\n"),
            Err(RequestError::Malformed(_))
        ));
        assert_eq!(request_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(request_head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(request_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
