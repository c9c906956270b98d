//! Turning what the grader saw into the likely bug, in the student's terms.
//! Each function returns a finding (what happened, one sentence)
//! and a hint (what to change), or nothing when no pattern fits and the lab
//! author's hint should stand.

use crate::cell::ExitReport;
use crate::escape::{SHOWN_BYTES, escape_shortened};
use crate::hint::{Hint, HintKind};
use crate::transport::Transport;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub finding: String,
    pub hint: String,
    /// Which diagnosis this is, for counting across a class.
    pub kind: HintKind,
}

impl Diagnosis {
    pub fn new(kind: HintKind, finding: impl Into<String>, hint: impl Into<String>) -> Diagnosis {
        Diagnosis {
            finding: finding.into(),
            hint: hint.into(),
            kind,
        }
    }

    /// The hint, with its kind.
    pub fn into_hint(self) -> Hint {
        Hint::new(self.kind, self.hint)
    }
}

/// A server or client that ended on its own, with the tail of its stderr.
pub fn exited(program: &str, exit: &ExitReport, stderr: &[u8]) -> Diagnosis {
    let tail = String::from_utf8_lossy(stderr);
    let last_lines: Vec<&str> = tail
        .lines()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut finding = format!("Your {program} exited ({exit}).");
    if !last_lines.is_empty() {
        finding.push_str(" The end of its stderr:\n");
        finding.push_str(&crate::escape::escape_lines(
            last_lines.join("\n").as_bytes(),
        ));
    }
    let hint = stderr_hint(stderr).unwrap_or_else(|| match exit {
        ExitReport::Signal(9) | ExitReport::Signal(24) => Hint::new(
            HintKind::OverLimit,
            format!("Your {program} was killed for going over a limit (CPU time or memory). Look for an endless loop or a buffer that keeps growing."),
        ),
        // No error to catch: the program simply ran out of things to do.
        ExitReport::Code(0) if program == "server" => Hint::new(
            HintKind::ServerEnded,
            "Your server ended by itself, without an error, so later clients found nobody listening. A server keeps serving: put the receiving and replying inside a `while True` loop (for TCP, the loop goes around accept()), and never close the welcoming socket.",
        ),
        _ => Hint::new(
            HintKind::Exited,
            format!("Your {program} must keep running. Catch the error shown above (for example with try/except around the request) instead of letting it end the program."),
        ),
    });
    Diagnosis::new(hint.kind, finding, hint.text)
}

/// A server that died during a test, read with what the test did: a decode
/// error on a line that arrived in pieces, when every byte sent was valid
/// UTF-8, means the server decoded part of a line (a character split across
/// two segments), not that it was sent bad bytes.
pub fn exited_during(
    program: &str,
    exit: &ExitReport,
    stderr: &[u8],
    split_sends: bool,
    sent: &[u8],
) -> Diagnosis {
    let mut diagnosis = exited(program, exit, stderr);
    let decode_error = String::from_utf8_lossy(stderr).contains("UnicodeDecodeError");
    if decode_error && split_sends && std::str::from_utf8(sent).is_ok() {
        diagnosis.kind = HintKind::SplitCharacter;
        diagnosis.hint = "Everything the grader sent was valid UTF-8, but a line arrived in several segments and one of them ended inside a character. You decoded before the line was complete: TCP is a byte stream, so keep the bytes in a buffer until '\\n' arrives, then decode the whole line. (errors='replace' would hide the crash but corrupt the character.)".to_string();
    }
    diagnosis
}

/// A hint read off a program's stderr, for the failures learners meet most.
pub fn stderr_hint(stderr: &[u8]) -> Option<Hint> {
    let text = String::from_utf8_lossy(stderr);
    let (kind, hint) = if text.contains("not yet implemented") {
        (
            HintKind::Stub,
            "This part is still the stub: replace the todo!() with your code, following the TODO comments in src/lib.rs.",
        )
    } else if text.contains("panicked at") {
        (
            HintKind::Panic,
            "Your program panicked (the message is above): handle the error, for example with match or ?, instead of unwrap() or expect().",
        )
    } else if text.contains("Missing parentheses in call to 'print'")
        || text.contains("print \"") && text.contains("SyntaxError")
    {
        (
            HintKind::Python2,
            "This looks like Python 2 code: in Python 3, print is a function, so write print(\"...\"), and use input() instead of raw_input().",
        )
    } else if text.contains("raw_input") && text.contains("NameError") {
        (
            HintKind::Python2,
            "raw_input is Python 2: use input() in Python 3.",
        )
    } else if text.contains("Address already in use")
        || text.contains("AddrInUse")
        || text.contains("EADDRINUSE")
    {
        (
            HintKind::AddressInUse,
            "The port was still in use when your server started. Set SO_REUSEADDR before bind (serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)), and make sure no other copy of your server is running.",
        )
    } else if [
        "gaierror",
        "Name or service not known",
        "Temporary failure in name resolution",
        "nodename nor servname",
        "UnknownHostException",
        "no such host",
        "getaddrinfo ENOTFOUND",
    ]
    .iter()
    .any(|marker| text.contains(marker))
    {
        (
            HintKind::HostLookup,
            "Your program could not look up the host name it connects to (see its stderr above). The server runs on this machine: use the host you were given (SOCKLAB_HOST, or {host} in your command), or 'localhost'.",
        )
    } else if text.contains("Network is unreachable") || text.contains("ENETUNREACH") {
        (
            HintKind::Unreachable,
            "Your program tried to reach an address that is not on this machine (see its stderr above). The server runs here: use the host you were given (SOCKLAB_HOST, or {host} in your command), or 'localhost', instead of an address written into the code.",
        )
    } else if text.contains("has no attribute 'clock'") {
        (
            HintKind::TimeClock,
            "time.clock() is gone since Python 3.8: measure times with time.time() (or time.perf_counter() for intervals).",
        )
    } else if text.contains("IndexError") && text.contains("sys.argv") {
        (
            HintKind::MissingArguments,
            "Your program reads command-line arguments (sys.argv) that it was not given. Give the command with its arguments in socklab.toml (for example `python3 -u client.py {host} {port}`), or fall back to 'localhost' and the lab's port when none are given.",
        )
    } else if text.contains("EOFError") || text.contains("NoSuchElementException: No line found") {
        (
            HintKind::ReadPastInput,
            "Your program read standard input again after it had ended (EOFError): the grader gives it its sentences and then closes standard input, as a terminal does at Ctrl-D. Stop reading at the end of the input (catch EOFError, or loop over sys.stdin), then end normally.",
        )
    } else if text.contains("UnicodeDecodeError") {
        (
            HintKind::UnicodeDecode,
            "Your program decoded bytes that were not valid UTF-8. Decode with errors='replace', or catch UnicodeDecodeError, so a bad message cannot stop it.",
        )
    } else if text.contains("ConnectionResetError")
        || text.contains("Connection reset by peer")
        || text.contains("BrokenPipeError")
    {
        (
            HintKind::ConnectionReset,
            "A client reset or closed its connection and your program stopped. Catch ConnectionResetError/BrokenPipeError (or handle the io::Error in Rust), close that connection and keep serving.",
        )
    } else if text.contains("TypeError: a bytes-like object is required, not 'int'") {
        (
            HintKind::SentInt,
            "Sockets send bytes, not numbers: turn the number into text and encode it, e.g. str(count).encode().",
        )
    } else if text.contains("TypeError: a bytes-like object is required") {
        (
            HintKind::SentStr,
            "Sockets send bytes: encode strings before sending, e.g. sentence.encode().",
        )
    } else if text.contains("Bad file descriptor") {
        (
            HintKind::ClosedSocket,
            "Your program used a socket after closing it. Close the connection socket after each reply (connectionSocket.close()), but keep the welcoming socket (serverSocket) open: the next accept() or recvfrom needs it.",
        )
    } else if text.contains("ModuleNotFoundError") || text.contains("ImportError") {
        (
            HintKind::MissingModule,
            "Your program imports a module that is not installed here. Use only the Python standard library (from socket import *).",
        )
    } else if text.contains("SyntaxError") || text.contains("IndentationError") {
        (
            HintKind::SyntaxError,
            "Python could not parse your program: fix the syntax error shown above, then run it yourself with python3 before submitting.",
        )
    } else {
        return None;
    };
    Some(Hint::new(kind, hint))
}

/// A server that bound the wrong port, or none.
/// A server free to choose its port that listens on several (or, over
/// the other transport, on the wrong kind): the tests cannot tell which
/// one is the web server.
pub fn several_ports(bound: &[(Transport, u16)], transport: Transport) -> Diagnosis {
    let ports: Vec<String> = bound
        .iter()
        .map(|(bound_transport, port)| {
            format!("{} {port}", bound_transport.as_str().to_uppercase())
        })
        .collect();
    let wanted = transport.as_str().to_uppercase();
    Diagnosis::new(
        HintKind::WrongPort,
        format!(
            "Your server listens on {}: the tests need exactly one {wanted} port to reach it on.",
            ports.join(", ")
        ),
        format!(
            "Listen on one {wanted} port only (any port you like, such as 6789): create one server socket, bind it once, and accept() on it."
        ),
    )
}

pub fn wrong_port(
    expected_port: u16,
    bound: &[(Transport, u16)],
    transport: Transport,
) -> Diagnosis {
    if let Some((other_transport, port)) = bound.first() {
        if *port == expected_port {
            return Diagnosis::new(
                HintKind::WrongTransport,
                format!(
                    "Your server listens on port {port} over {}, but this lab uses {}.",
                    other_transport.as_str().to_uppercase(),
                    transport.as_str().to_uppercase()
                ),
                match transport {
                    Transport::Udp => "Create the socket with socket(AF_INET, SOCK_DGRAM) for UDP.",
                    Transport::Tcp => {
                        "Create the socket with socket(AF_INET, SOCK_STREAM) for TCP, then listen()."
                    }
                },
            );
        }
        // A port passed to bind() without htons() comes out with its two
        // bytes swapped: 12000 (0x2EE0) becomes 57390 (0xE02E).
        if let Some((_, swapped)) = bound
            .iter()
            .find(|(_, port)| port.swap_bytes() == expected_port && *port != expected_port)
        {
            return Diagnosis::new(
                HintKind::NoHtons,
                format!(
                    "Nothing is listening on port {expected_port}, but your server listens on port {swapped}: that is {expected_port} with its two bytes swapped."
                ),
                format!(
                    "Convert the port to network byte order before bind: addr.sin_port = htons({expected_port}) in C (and ntohs() when you print a port)."
                ),
            );
        }
        // The transport is named only where it is not the lab's: a TCP
        // server in a UDP lab is two bugs, and the student should see both.
        let ports: Vec<String> = bound
            .iter()
            .map(|(bound_transport, port)| {
                if *bound_transport == transport {
                    port.to_string()
                } else {
                    format!("{port} over {}", bound_transport.as_str().to_uppercase())
                }
            })
            .collect();
        return Diagnosis::new(
            HintKind::WrongPort,
            format!(
                "Nothing is listening on port {expected_port}, but your server listens on port {}.",
                ports.join(", ")
            ),
            format!(
                "Bind the port the handout asks for: serverPort = {expected_port} (or the port in SOCKLAB_PORT, when it is set)."
            ),
        );
    }
    Diagnosis::new(
        HintKind::NeverListened,
        format!("Your server is running but never started listening on port {expected_port}."),
        "Call bind(('', serverPort)) early, before anything that could block, and for TCP call listen() after it.",
    )
}

/// Escaped, shortened bytes for a message, in backticks.
pub fn shown(bytes: &[u8]) -> String {
    format!("`{}`", escape_shortened(bytes, SHOWN_BYTES))
}

/// Like [`shown`], but the word `nothing` for no bytes at all, which reads
/// better in a message than an empty pair of backticks.
pub fn shown_or_nothing(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "nothing".to_string()
    } else {
        shown(bytes)
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_server_that_ends_without_an_error_is_told_to_loop() {
        let d = exited(
            "server",
            &ExitReport::Code(0),
            b"The server is ready to receive\n",
        );
        assert!(d.finding.contains("exit status 0"));
        assert!(d.hint.contains("while True"));
        let d = exited("server", &ExitReport::Code(1), b"");
        assert!(!d.hint.contains("while True"));
    }

    #[test]
    fn sending_an_int_and_a_closed_socket_are_recognised() {
        let int = b"TypeError: a bytes-like object is required, not 'int'";
        assert!(
            stderr_hint(int)
                .unwrap()
                .text
                .contains("str(count).encode()")
        );
        let closed = b"    fd, addr = self._accept()\nOSError: [Errno 9] Bad file descriptor";
        assert!(
            stderr_hint(closed)
                .unwrap()
                .text
                .contains("welcoming socket")
        );
    }

    #[test]
    fn rust_stubs_and_panics_are_recognised() {
        let stub =
            b"thread 'main' panicked at src/lib.rs:40:5:\nnot yet implemented: receive a datagram";
        assert!(stderr_hint(stub).unwrap().text.contains("todo!()"));
        let panic = b"thread 'main' panicked at src/main.rs:9:30:\ncalled `Result::unwrap()` on an `Err` value";
        assert!(stderr_hint(panic).unwrap().text.contains("unwrap()"));
    }

    #[test]
    fn python2_and_address_in_use_are_recognised() {
        let py2 = b"  File \"UDPServer.py\", line 9\n    print \"ready\"\nSyntaxError: Missing parentheses in call to 'print'.";
        assert!(stderr_hint(py2).unwrap().text.contains("Python 2"));
        assert!(
            stderr_hint(b"OSError: [Errno 98] Address already in use")
                .unwrap()
                .text
                .contains("SO_REUSEADDR")
        );
    }

    #[test]
    fn a_decode_error_on_a_split_line_of_valid_text_is_a_framing_bug() {
        let stderr = b"Traceback (most recent call last):\nUnicodeDecodeError: 'utf-8' codec can't decode byte 0xc3 in position 4: unexpected end of data\n";
        let exit = ExitReport::Code(1);
        let d = exited_during(
            "server",
            &exit,
            stderr,
            true,
            "caf\u{e9} au lait\n".as_bytes(),
        );
        assert!(d.hint.contains("buffer") && !d.hint.starts_with("Your program decoded"));
        // Bytes that really were invalid keep the decode hint.
        let d = exited_during("server", &exit, stderr, true, b"\xff\xfe\n");
        assert!(d.hint.contains("errors='replace'"));
    }

    #[test]
    fn a_port_without_htons_is_named() {
        let d = wrong_port(3444, &[(Transport::Udp, 29709)], Transport::Udp);
        assert!(d.hint.contains("htons(3444)"), "{d:?}");
    }

    #[test]
    fn reaching_failures_are_named() {
        let dns = b"socket.gaierror: [Errno -2] Name or service not known";
        assert!(
            stderr_hint(dns)
                .unwrap()
                .text
                .contains("look up the host name")
        );
        let far = b"OSError: [Errno 101] Network is unreachable";
        assert!(
            stderr_hint(far)
                .unwrap()
                .text
                .contains("not on this machine")
        );
        let argv = b"    serverName = sys.argv[1]\nIndexError: list index out of range";
        assert!(stderr_hint(argv).unwrap().text.contains("sys.argv"));
        let eof =
            b"    sentence = input('Input lowercase sentence:')\nEOFError: EOF when reading a line";
        assert!(stderr_hint(eof).unwrap().text.contains("EOFError"));
    }

    #[test]
    fn a_wrong_port_names_both_ports() {
        let d = wrong_port(12000, &[(Transport::Udp, 12001)], Transport::Udp);
        assert!(d.finding.contains("12000") && d.finding.contains("12001"));
    }
}
