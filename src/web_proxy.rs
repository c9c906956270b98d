//! The `web-proxy` lab: chapter 2's socket assignment "Web Proxy", with its
//! cache.
//!
//! A proxy sits between a browser and the web. It accepts a request as a
//! server does, fetches the page from the *origin* server as a client does,
//! and passes the response back. A caching proxy also keeps a copy on disk:
//! the second request for the same URL is answered from the copy, without
//! asking the origin again. Read this file beside the assignment's
//! `ProxyServer.py` skeleton.
//!
//! Requests come in two forms, and a proxy accepts both:
//!
//! - the assignment's, typed into a browser as
//!   `http://localhost:8888/www.example.com/index.html`, which arrives as
//!   `GET /www.example.com/index.html HTTP/1.1`;
//! - a browser's own, when it is configured to use the proxy:
//!   `GET http://www.example.com/index.html HTTP/1.1` (the "absolute form").

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::client_setup;
use crate::http::{self, RequestError};

/// The assignment's port.
pub const DEFAULT_PORT: u16 = 8888;

/// How long the proxy waits for a client's request, and for the origin.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Where a request wants to go: the origin's host and port, and the path to
/// ask it for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

/// Reads a proxy request's target in either form:
/// `/www.example.com:8080/a/b.html` or `http://www.example.com:8080/a/b.html`.
pub fn destination(target: &str) -> Option<Destination> {
    let rest = match target.strip_prefix("http://") {
        Some(rest) => rest,
        None => target.strip_prefix('/')?,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, 80),
    };
    if host.is_empty() || host.contains(['/', ' ']) {
        return None;
    }
    Some(Destination {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// The file a destination's response is cached in, under `cache`: one file
/// per URL, its name made only of safe characters so that no URL can reach
/// outside the cache folder.
pub fn cache_file(cache: &Path, destination: &Destination) -> PathBuf {
    let url = format!(
        "{}:{}{}",
        destination.host, destination.port, destination.path
    );
    let name: String = url
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_') {
                character
            } else {
                '_'
            }
        })
        .collect();
    // Different URLs can map to the same safe name (`a/b` and `a_b`); a hash
    // of the whole URL keeps them apart.
    cache.join(format!("{name}-{:016x}", fnv1a(url.as_bytes())))
}

/// FNV-1a, a tiny hash that is the same on every machine and every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Serves as a caching proxy forever, one thread per client, keeping cached
/// responses in `cache` (created if missing).
pub fn serve(listener: TcpListener, cache: PathBuf) -> io::Result<()> {
    fs::create_dir_all(&cache)?;
    eprintln!(
        "web-proxy listening on {}, caching in {}",
        listener.local_addr()?,
        cache.display()
    );
    let cache = Arc::new(cache);
    loop {
        // `tcpCliSock, addr = tcpSerSock.accept()`.
        let (connection, client) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("web-proxy: accepting a connection failed ({error}); still serving");
                continue;
            }
        };
        let cache = Arc::clone(&cache);
        thread::spawn(move || {
            if let Err(error) = answer(connection, &cache) {
                eprintln!("web-proxy: client {client}: {error}");
            }
        });
    }
}

fn answer(mut client: TcpStream, cache: &Path) -> io::Result<()> {
    client.set_read_timeout(Some(TIMEOUT))?;
    let request = read_head(&mut client)?;
    let line = match http::parse_request_line(&request) {
        Ok(line) => line,
        Err(RequestError::Empty) => return Ok(()),
        Err(RequestError::Malformed(_)) => return send_error(&mut client, 400, "Bad Request"),
    };
    let Some(destination) = destination(&line.target) else {
        return send_error(&mut client, 400, "Bad Request");
    };
    if line.method != "GET" {
        return send_error(&mut client, 501, "Not Implemented");
    }

    // A hit: the bytes saved from the origin's earlier response, as they
    // were. Read as bytes (`'rb'`): a cache opened in text mode rewrites
    // `\r\n` and breaks every image.
    let cached = cache_file(cache, &destination);
    if let Ok(response) = fs::read(&cached) {
        eprintln!("web-proxy: hit  {}{}", destination.host, destination.path);
        return client.write_all(&response);
    }

    // A miss: ask the origin, as a client would.
    eprintln!("web-proxy: miss {}{}", destination.host, destination.path);
    let response = match fetch(&destination) {
        Ok(response) => response,
        Err(error) => {
            eprintln!(
                "web-proxy: the origin {}:{} failed: {error}",
                destination.host, destination.port
            );
            return send_error(&mut client, 502, "Bad Gateway");
        }
    };
    client.write_all(&response)?;
    // Only complete, successful responses are kept: an error page cached
    // would be served even after the page appears.
    if response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200") {
        // Written whole to a temporary name, then renamed: a client reading
        // the cache at the same moment sees the old state or the new one,
        // never half a file.
        let partial = cached.with_extension("partial");
        fs::write(&partial, &response)?;
        fs::rename(&partial, &cached)?;
    }
    Ok(())
}

/// Fetches `destination` from its origin and returns the whole response,
/// read until the origin closes the connection (the request asks it to).
/// One `recv(4096)` would keep only the start of a large page.
fn fetch(destination: &Destination) -> io::Result<Vec<u8>> {
    let mut origin = client_setup::connect(&destination.host, destination.port)?;
    origin.set_read_timeout(Some(TIMEOUT))?;
    origin.write_all(&http::get_request(
        &destination.host,
        &destination.path,
        "HTTP/1.0",
    ))?;
    let mut response = Vec::new();
    origin.read_to_end(&mut response).map_err(|error| {
        if client_setup::is_timeout(&error) {
            io::Error::new(
                ErrorKind::TimedOut,
                "the origin did not finish its response in time",
            )
        } else {
            error
        }
    })?;
    if response.is_empty() {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the origin sent nothing",
        ));
    }
    Ok(response)
}

fn read_head(connection: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while http::request_head_end(&request).is_none() && request.len() < http::MAX_REQUEST_HEAD {
        match connection.read(&mut buffer)? {
            0 => break,
            length => request.extend_from_slice(&buffer[..length]),
        }
    }
    Ok(request)
}

fn send_error(client: &mut TcpStream, status: u16, reason: &str) -> io::Result<()> {
    let body = format!("<html><body><h1>{status} {reason}</h1></body></html>\n");
    client.write_all(&http::response_head(
        status,
        reason,
        "text/html; charset=utf-8",
        body.len(),
    ))?;
    client.write_all(body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_request_forms() {
        let expected = Destination {
            host: "www.example.com".into(),
            port: 80,
            path: "/a/b.html".into(),
        };
        assert_eq!(
            destination("/www.example.com/a/b.html"),
            Some(expected.clone())
        );
        assert_eq!(
            destination("http://www.example.com/a/b.html"),
            Some(expected)
        );
        let with_port = destination("/127.0.0.1:8080/x.png").unwrap();
        assert_eq!(
            (with_port.host.as_str(), with_port.port),
            ("127.0.0.1", 8080)
        );
        assert_eq!(destination("/example.com").unwrap().path, "/");
        for wrong in ["", "/", "example.com/x", "/host:notaport/x"] {
            assert_eq!(destination(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn cache_files_stay_in_the_cache_and_apart() {
        let cache = Path::new("/cache");
        let a = cache_file(cache, &destination("/h/a/b").unwrap());
        let b = cache_file(cache, &destination("/h/a_b").unwrap());
        let climb = cache_file(cache, &destination("/h/../../etc/passwd").unwrap());
        assert_ne!(a, b);
        for file in [a, b, climb] {
            assert_eq!(file.parent(), Some(cache), "{}", file.display());
        }
    }
}
