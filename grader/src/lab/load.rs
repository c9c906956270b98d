//! Reading a lab file: TOML text in, a validated [`Lab`] or an error naming the
//! file, the line and what is wrong.
//!
//! Steps are read in two passes. `toml` can only point at the enclosing array
//! when a field inside an internally tagged enum is wrong, so each step is
//! first kept as a spanned table and then deserialised on its own: every error
//! then carries the line of the step that caused it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use regex::bytes::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::files::{self, FilesBase};
use super::{
    Alphabet, ClientExpectation, Conventions, Expectation, Kind, Lab, OutputStream, Part, Payload,
    PeerBehaviour, Send, SocketName, Step, TestCase, Transport, Visibility,
};
use crate::limits::LimitOverrides;
use crate::protocol::smtp::{SmtpCheck, SmtpPlan};
use crate::protocol::{Protocol, TransformName};

/// A lab file that cannot be used. Displayed as
/// ``lab file `fixtures/labs/x.toml`: line 12: unknown step `sned` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lab file `{}`", self.file)?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LabError {}

pub fn load_file(path: &Path) -> Result<Lab, LabError> {
    use std::io::Read;
    let file = path.display().to_string();
    let refuse = |line: Option<usize>, message: String| LabError {
        file: file.clone(),
        line,
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|opened| opened.take(MAX_LAB_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| refuse(None, format!("cannot read it: {err}")))?;
    if bytes.len() as u64 > MAX_LAB_BYTES {
        return Err(refuse(
            None,
            format!(
                "it is larger than {} KiB; a lab file is text of a few KiB",
                MAX_LAB_BYTES / 1024
            ),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        let bytes = err.as_bytes();
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |newline| newline + 1);
        refuse(
            Some(bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1),
            format!(
                "it is not UTF-8 text: byte 0x{:02x} at column {} (save the file as UTF-8)",
                bytes[at],
                at - line_start + 1
            ),
        )
    })?;
    load_str(&text, &file)
}

/// The largest lab file read.
pub const MAX_LAB_BYTES: u64 = 1024 * 1024;
/// The most `extra_ports` a lab may list: each is a socket and a thread of
/// the grader-played server in every client test.
const MAX_EXTRA_PORTS: usize = 8;

/// Bounds on what a lab file may ask for (documented in docs/LAB-FORMAT.md):
/// beyond them a lab would exhaust the grader's memory, overflow a deadline
/// or a score, or take longer than anyone waits.
pub mod bounds {
    /// Tests in a lab, and steps in a test.
    pub const TESTS: usize = 1_000;
    pub const STEPS: usize = 1_000;
    /// Points of one test; a lab's total stays far below `u32::MAX`.
    pub const POINTS: u32 = 1_000;
    /// Any duration a lab gives: a test's `timeout_ms`, `within_ms`, `ms`,
    /// `pause_ms`, `delay_ms`.
    pub const MILLISECONDS: u64 = 600_000;
    /// Bytes of one payload (`size`, `length`, a segment).
    pub const BYTES: usize = 16 * 1024 * 1024;
    /// Words of one sentence (`words`).
    pub const WORDS: usize = 100_000;
    /// Segments of one `send`.
    pub const SEGMENTS: usize = 10_000;
    /// The `count` of an `expect_hits`: a test makes at most this many requests.
    pub const HITS: u32 = 1_000;
}

/// The placeholder in a `send` text for the address of the origin a
/// server test's `serve` step started (`gaia.cs.umass.edu` or
/// `127.0.0.1:PORT`, see `protocol::proxy::ORIGIN_HOST`).
pub const ORIGIN_PLACEHOLDER: &str = "{origin}";

/// The 1-based line of the first `key = …` at or after `from`, if any.
fn line_of_key(text: &str, key: &str, from: usize) -> Option<usize> {
    let pattern = format!(r"(?m)^[ \t]*{}[ \t]*=", regex::escape(key));
    let found = regex::Regex::new(&pattern)
        .ok()?
        .find_at(text, from.min(text.len()))?;
    Some(line_of(text, found.start()))
}

/// Where a table's header (`[limits]`) starts, or the text's start.
fn table_offset(text: &str, header: &str) -> usize {
    let pattern = format!(r"(?m)^[ \t]*\[[ \t]*{}[ \t]*\]", regex::escape(header));
    regex::Regex::new(&pattern)
        .ok()
        .and_then(|pattern| pattern.find(text))
        .map_or(0, |found| found.start())
}

/// Parses and validates lab text; `file` names it in errors. A `files`
/// folder is looked for beside `file`.
pub fn load_str(text: &str, file: &str) -> Result<Lab, LabError> {
    let beside = Path::new(file).parent().unwrap_or(Path::new("."));
    load_str_with(text, file, FilesBase::Dir(beside))
}

/// [`load_str`], with the lab's `files` folder looked for in `files`.
pub fn load_str_with(text: &str, file: &str, files: FilesBase<'_>) -> Result<Lab, LabError> {
    let error_at = |offset: Option<usize>, message: String| LabError {
        file: file.to_string(),
        line: offset.map(|offset| line_of(text, offset)),
        message,
    };
    let raw: RawLabFile = toml::from_str(text)
        .map_err(|err| error_at(err.span().map(|s| s.start), err.message().to_string()))?;

    let lab_limits = raw.limits.unwrap_or_default();
    if let Some(wrong) = lab_limits.out_of_range().first() {
        let from = table_offset(text, "limits");
        return Err(LabError {
            file: file.to_string(),
            line: line_of_key(text, wrong.name, from),
            message: format!("[limits] {wrong}"),
        });
    }
    let lab_key_error = |key: &str, message: String| LabError {
        file: file.to_string(),
        line: line_of_key(text, key, table_offset(text, "lab")),
        message,
    };
    if raw.lab.port == 0 {
        return Err(lab_key_error(
            "port",
            "`port` = 0 is out of range: it must be from 1 to 65535".into(),
        ));
    }
    if raw.lab.extra_ports.contains(&0) {
        return Err(lab_key_error(
            "extra_ports",
            "`extra_ports` holds 0: every port must be from 1 to 65535".into(),
        ));
    }
    if raw.lab.extra_ports.len() > MAX_EXTRA_PORTS {
        return Err(lab_key_error(
            "extra_ports",
            format!(
                "`extra_ports` lists {} ports: at most {MAX_EXTRA_PORTS}",
                raw.lab.extra_ports.len()
            ),
        ));
    }
    let (port, any_port) = (raw.lab.port, raw.lab.any_port);
    let protocol = match (&raw.lab.protocol, raw.lab.transform, &raw.lab.files) {
        (Some(ProtocolName::Smtp), transform, files) => {
            if transform.is_some() {
                return Err(lab_key_error(
                    "transform",
                    "an smtp lab has no `transform`: the grader plays a mail server".into(),
                ));
            }
            if files.is_some() {
                return Err(lab_key_error(
                    "files",
                    "`files` is for labs with `protocol = \"http\"`, whose server serves them"
                        .into(),
                ));
            }
            if raw.lab.transport != Transport::Tcp {
                return Err(lab_key_error(
                    "transport",
                    "SMTP runs over `transport = \"tcp\"`".into(),
                ));
            }
            Protocol::Smtp
        }
        (None | Some(ProtocolName::Text), Some(transform), None) => Protocol::named(transform),
        (None | Some(ProtocolName::Text), None, _) => {
            return Err(lab_key_error(
                "transform",
                "a text lab names its `transform` (uppercase, count-s or uppercase-lines)".into(),
            ));
        }
        (None | Some(ProtocolName::Text), Some(_), Some(_)) => {
            return Err(lab_key_error(
                "files",
                "`files` is for labs with `protocol = \"http\"`, whose server serves them".into(),
            ));
        }
        (Some(ProtocolName::Pinger), None, None) => {
            if raw.lab.transport != Transport::Udp {
                return Err(lab_key_error(
                    "transport",
                    "the pinger runs over `transport = \"udp\"`".into(),
                ));
            }
            Protocol::Pinger
        }
        (Some(ProtocolName::Pinger), Some(_), _) => {
            return Err(lab_key_error(
                "transform",
                "a pinger lab has no `transform`: its server echoes pings in capitals".into(),
            ));
        }
        (Some(ProtocolName::Pinger), None, Some(_)) => {
            return Err(lab_key_error(
                "files",
                "`files` is for labs with `protocol = \"http\"`, whose server serves them".into(),
            ));
        }
        (Some(ProtocolName::Http | ProtocolName::Proxy), Some(_), _) => {
            return Err(lab_key_error(
                "transform",
                "an http or proxy lab has no `transform`: its replies are the files of `files`"
                    .into(),
            ));
        }
        (Some(ProtocolName::Http | ProtocolName::Proxy), None, None) => {
            return Err(lab_key_error(
                "protocol",
                "an http or proxy lab names the folder its server (a proxy's origin) serves: `files = \"<folder beside the lab file>\"`".into(),
            ));
        }
        (Some(name @ (ProtocolName::Http | ProtocolName::Proxy)), None, Some(folder)) => {
            if raw.lab.transport != Transport::Tcp {
                return Err(lab_key_error(
                    "transport",
                    "HTTP runs over `transport = \"tcp\"`".into(),
                ));
            }
            let site = files::read_with(files, folder, raw.lab.filler.as_ref())
                .map_err(|message| lab_key_error("files", message))?;
            match name {
                ProtocolName::Proxy => Protocol::Proxy { site },
                ProtocolName::Http
                | ProtocolName::Text
                | ProtocolName::Smtp
                | ProtocolName::Pinger => Protocol::Http {
                    site,
                    lenient: false,
                },
            }
        }
    };
    if raw.test.len() > bounds::TESTS {
        return Err(error_at(
            Some(raw.test[bounds::TESTS].id.span().start),
            format!(
                "a lab has at most {} tests; this is test {}",
                bounds::TESTS,
                bounds::TESTS + 1
            ),
        ));
    }
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let mut tests = Vec::with_capacity(raw.test.len());
    for raw_test in raw.test {
        let test_offset = raw_test.id.span().start;
        let id = raw_test.id.into_inner();
        if !is_valid_id(&id) {
            return Err(error_at(
                Some(test_offset),
                format!("test id `{id}` must be lowercase letters, digits and dashes"),
            ));
        }
        if let Some(first) = seen_ids.insert(id.clone(), line_of(text, test_offset)) {
            return Err(error_at(
                Some(test_offset),
                format!("test id `{id}` is already used on line {first}"),
            ));
        }
        let points_offset = raw_test.points.span().start;
        let points = raw_test.points.into_inner();
        if points > bounds::POINTS {
            return Err(error_at(
                Some(points_offset),
                format!(
                    "`points` = {points} is out of range: it must be from 0 to {}",
                    bounds::POINTS
                ),
            ));
        }
        let timeout_ms = match raw_test.timeout_ms {
            Some(timeout) => {
                let offset = timeout.span().start;
                let timeout = timeout.into_inner();
                check_range("timeout_ms", timeout, 1, bounds::MILLISECONDS)
                    .map_err(|message| error_at(Some(offset), message))?;
                Some(timeout)
            }
            None => None,
        };
        if raw_test.steps.len() > bounds::STEPS {
            return Err(error_at(
                Some(raw_test.steps[bounds::STEPS].span().start),
                format!("a test has at most {} steps", bounds::STEPS),
            ));
        }
        let hint = RawHint::read(raw_test.hint)
            .map_err(|(offset, message)| error_at(Some(offset), message))?;
        let after = match raw_test.after {
            None => Vec::new(),
            Some(after) => {
                let offset = after.span().start;
                let after = after.into_inner();
                for earlier in &after {
                    let known = tests
                        .iter()
                        .any(|test: &TestCase| &test.id == earlier && test.part == raw_test.part);
                    if !known {
                        return Err(error_at(
                            Some(offset),
                            format!(
                                "`after` names `{earlier}`, which is not an earlier {} test of this lab",
                                raw_test.part.as_str()
                            ),
                        ));
                    }
                }
                after
            }
        };
        let steps = validate_steps(
            raw_test.part,
            raw.lab.transport,
            protocol,
            raw_test.steps,
            &id,
            test_offset,
        )
        .map_err(|(offset, message)| error_at(Some(offset), message))?;
        tests.push(TestCase {
            name: raw_test.name.unwrap_or_else(|| id.clone()),
            id,
            part: raw_test.part,
            kind: raw_test.kind,
            points,
            visibility: raw_test.visibility,
            timeout_ms,
            hint: hint.python,
            rust_hint: hint.rust,
            steps,
            after,
            line: line_of(text, test_offset),
        });
    }
    if tests.is_empty() {
        return Err(error_at(
            None,
            "it defines no tests: add a `[[test]]` table".into(),
        ));
    }
    let assigned_by_file = raw.lab.parts;
    let assigned = Part::ALL
        .into_iter()
        .filter(|&part| tests.iter().any(|test| test.part == part))
        .collect();
    let lab = Lab {
        name: raw.lab.name,
        title: raw.lab.title,
        textbook: raw.lab.textbook,
        transport: raw.lab.transport,
        protocol,
        any_port,
        port,
        extra_ports: raw.lab.extra_ports.clone(),
        conventions: raw
            .lab
            .conventions
            .validate()
            .map_err(|message| error_at(None, message))?,
        limits: lab_limits,
        tests,
        left_out: Vec::new(),
        assigned,
        source: file.to_string(),
        digest: digest(text),
    };
    match assigned_by_file {
        None => Ok(lab),
        Some(parts) => {
            let at = Some(parts.span().start);
            let parts = parts.into_inner();
            if parts.is_empty() {
                return Err(error_at(
                    at,
                    "`parts` is empty: list the parts this assignment grades, e.g. [\"server\"]"
                        .into(),
                ));
            }
            if let Some(twice) = parts
                .iter()
                .enumerate()
                .find(|&(at, part)| parts[..at].contains(part))
            {
                return Err(error_at(
                    at,
                    format!("`parts` lists `{}` twice", twice.1.as_str()),
                ));
            }
            // The lab file's own setting: its digest already covers it.
            let digest = lab.digest.clone();
            let mut assigned = lab.restricted_to(&parts).map_err(|err| {
                let defined: Vec<&str> = err.available.iter().map(|part| part.as_str()).collect();
                error_at(
                    at,
                    format!(
                        "`parts` lists `{}`, but no test has `part = \"{}\"` (the tests are for the {})",
                        err.missing.as_str(),
                        err.missing.as_str(),
                        defined.join(" and the ")
                    ),
                )
            })?;
            assigned.digest = digest;
            Ok(assigned)
        }
    }
}

/// A digest of what decides how a lab grades: its tests, its limits and the
/// `[lab]` fields that shape replies and how programs are found (transport,
/// transform, port, conventions) — but not its name, title or textbook
/// reference, nor comments or layout. Written `fnv1a64:<16 hex digits>`.
///
/// It detects a changed definition (a test's points or steps changed under
/// the same id); it is not a signature, since anyone can compute it.
/// `text` must be a lab file that parses; [`load_str`] calls this after it did.
pub fn digest(text: &str) -> String {
    let mut canonical = String::new();
    if let Ok(mut document) = text.parse::<toml::Table>() {
        if let Some(toml::Value::Table(lab)) = document.get_mut("lab") {
            for presentational in ["name", "title", "textbook"] {
                lab.remove(presentational);
            }
        }
        write_canonical(&mut canonical, &toml::Value::Table(document));
    }
    format!("fnv1a64:{:016x}", crate::sentence::stable_hash(&canonical))
}

/// A TOML value as text with its keys sorted, whatever order the map keeps.
fn write_canonical(out: &mut String, value: &toml::Value) {
    match value {
        toml::Value::Table(table) => {
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            out.push('{');
            for key in keys {
                out.push_str(&format!("{key:?}="));
                write_canonical(out, &table[key.as_str()]);
                out.push(',');
            }
            out.push('}');
        }
        toml::Value::Array(items) => {
            out.push('[');
            for item in items {
                write_canonical(out, item);
                out.push(',');
            }
            out.push(']');
        }
        toml::Value::String(text) => out.push_str(&format!("{text:?}")),
        other => out.push_str(&other.to_string()),
    }
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabFile {
    lab: RawLabInfo,
    limits: Option<LimitOverrides>,
    #[serde(default)]
    test: Vec<RawTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabInfo {
    name: String,
    title: String,
    textbook: Option<String>,
    transport: Transport,
    /// What a text lab's server does to a message; absent in other labs.
    transform: Option<TransformName>,
    /// `text` (the default), `http` or `pinger`.
    protocol: Option<ProtocolName>,
    #[serde(default = "default_port")]
    port: u16,
    /// The student may choose the server's port; `port` is then the
    /// handout's example, what a command with `{port}` is told.
    #[serde(default)]
    any_port: bool,
    /// Ports a client may hard-code (SMTP's 25 and 587): the grader-played
    /// server listens on them too where the cell's network is its own.
    #[serde(default)]
    extra_ports: Vec<u16>,
    /// The folder, beside the lab file, put beside the student's program.
    files: Option<String>,
    /// A large file of seeded bytes added to `files`.
    filler: Option<files::Filler>,
    /// The parts this assignment grades; every part with tests when absent.
    parts: Option<Spanned<Vec<Part>>>,
    #[serde(default)]
    conventions: RawConventions,
}

/// `[lab.conventions]` as written: names, Python files, or both.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConventions {
    server_names: Option<Vec<String>>,
    client_names: Option<Vec<String>>,
    server_files: Option<Vec<String>>,
    client_files: Option<Vec<String>>,
    #[serde(default)]
    server_bins: Vec<String>,
    #[serde(default)]
    client_bins: Vec<String>,
    #[serde(default)]
    client_args: Vec<String>,
}

impl RawConventions {
    /// Fills in whichever of names and Python files is missing from the
    /// other: `UDPServer` runs as `UDPServer.py`, and `UDPServer.py` names
    /// `UDPServer` in every other language.
    fn validate(self) -> Result<Conventions, String> {
        fn pair(
            role: &str,
            names: Option<Vec<String>>,
            files: Option<Vec<String>>,
        ) -> Result<(Vec<String>, Vec<String>), String> {
            let names = match (names, &files) {
                (Some(names), _) => names,
                (None, Some(files)) => files
                    .iter()
                    .map(|file| file.strip_suffix(".py").unwrap_or(file).to_string())
                    .collect(),
                (None, None) => Vec::new(),
            };
            if let Some(bad) = names
                .iter()
                .find(|name| name.is_empty() || name.contains(['/', '.']))
            {
                return Err(format!(
                    "conventions: `{bad}` in {role}_names is not a name: give it without a folder or an extension (`UDPServer`)"
                ));
            }
            let files =
                files.unwrap_or_else(|| names.iter().map(|name| format!("{name}.py")).collect());
            Ok((names, files))
        }
        let (server_names, server_files) = pair("server", self.server_names, self.server_files)?;
        let (client_names, client_files) = pair("client", self.client_names, self.client_files)?;
        Ok(Conventions {
            server_names,
            client_names,
            server_files,
            client_files,
            server_bins: self.server_bins,
            client_bins: self.client_bins,
            client_args: self.client_args,
        })
    }
}

fn default_port() -> u16 {
    socklab::DEFAULT_PORT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    id: Spanned<String>,
    name: Option<String>,
    part: Part,
    #[serde(default)]
    kind: Kind,
    points: Spanned<u32>,
    #[serde(default)]
    visibility: Visibility,
    timeout_ms: Option<Spanned<u64>>,
    hint: Spanned<toml::Value>,
    after: Option<Spanned<Vec<String>>>,
    steps: Vec<Spanned<toml::Table>>,
}

/// `[lab] protocol`, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProtocolName {
    Text,
    Http,
    Smtp,
    /// A caching web proxy, with the grader as the origin too.
    Proxy,
    Pinger,
}

/// A test's hint: one text for every language, or a wording per language,
/// `hint = { python = "…", rust = "…" }` (`python` is also the wording for
/// the languages without their own).
struct RawHint {
    python: String,
    rust: Option<String>,
}

impl RawHint {
    /// Checked by hand rather than by an untagged enum, whose error would not
    /// say which key was wrong.
    fn read(value: Spanned<toml::Value>) -> Result<RawHint, (usize, String)> {
        let offset = value.span().start;
        let refuse = |message: String| (offset, message);
        let text = |key: &str, value: &toml::Value| match value {
            toml::Value::String(text) => Ok(text.clone()),
            _ => Err(refuse(format!("`hint.{key}` must be a string"))),
        };
        match value.into_inner() {
            toml::Value::String(text) => Ok(RawHint {
                python: text,
                rust: None,
            }),
            toml::Value::Table(table) => {
                if let Some(unknown) = table
                    .keys()
                    .find(|key| !["python", "rust"].contains(&key.as_str()))
                {
                    return Err(refuse(format!(
                        "`hint.{unknown}`: a hint is worded for `python` (every language without its own) and optionally `rust`"
                    )));
                }
                let python = table.get("python").ok_or_else(|| {
                    refuse("a hint given per language needs its `python` wording, the one every other language reads".into())
                })?;
                Ok(RawHint {
                    python: text("python", python)?,
                    rust: table
                        .get("rust")
                        .map(|rust| text("rust", rust))
                        .transpose()?,
                })
            }
            _ => Err(refuse(
                "`hint` must be a string, or a table `{ python = \"…\", rust = \"…\" }`".into(),
            )),
        }
    }
}

/// One step as written; `do` names it.
#[derive(Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
enum RawStep {
    Open {
        socket: Option<String>,
        transport: Option<Transport>,
    },
    Send {
        socket: Option<String>,
        text: Option<String>,
        hex: Option<String>,
        words: Option<usize>,
        alphabet: Option<Alphabet>,
        size: Option<usize>,
        #[serde(default)]
        newline: bool,
        #[serde(default)]
        segments: Vec<usize>,
        #[serde(default)]
        pause_ms: u64,
    },
    ShutdownWrite {
        socket: Option<String>,
    },
    Reset {
        socket: Option<String>,
    },
    Close {
        socket: Option<String>,
    },
    Expect {
        socket: Option<String>,
        #[serde(flatten)]
        reply: RawReply,
        within_ms: Option<u64>,
        /// Forgive what a lenient browser forgives in the reply's form.
        #[serde(default)]
        lenient: bool,
    },
    ExpectSilence {
        socket: Option<String>,
        ms: u64,
    },
    ExpectClosed {
        socket: Option<String>,
    },
    Pause {
        ms: u64,
    },
    Serve {
        transport: Option<Transport>,
        #[serde(default)]
        behaviour: RawBehaviour,
        delay_ms: Option<u64>,
        /// How the grader's mail server behaves (smtp labs).
        smtp: Option<SmtpPlan>,
    },
    RunClient {
        stdin: String,
    },
    ExpectOutput {
        #[serde(default)]
        stream: OutputStream,
        contains: Option<String>,
        regex: Option<String>,
        lacks: Option<String>,
    },
    ExpectSent {
        #[serde(flatten)]
        reply: RawReply,
    },
    ExpectExit {
        code: Option<i32>,
        success: Option<bool>,
    },
    ExpectNoCrash {},
    ExpectDialogue {
        check: SmtpCheck,
    },
    ExpectHits {
        path: String,
        count: u32,
    },
    Check {
        check: String,
    },
}

/// The ways to say what a reply must be; none given means the reference reply.
#[derive(Deserialize, Default)]
struct RawReply {
    text: Option<String>,
    hex: Option<String>,
    regex: Option<String>,
    length: Option<usize>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawBehaviour {
    #[default]
    Reference,
    Silent,
    Twice,
    Late,
    CloseEarly,
    Absent,
    Plan,
}

/// What a step needs from the test it is in. Written as one exhaustive
/// match, so a new step must say what it needs before it compiles.
struct Needs<'s> {
    /// The part whose program the step drives or checks: the grader
    /// connects to the student's server, or runs the student's client.
    /// `None`: the step works in a test of either part.
    part: Option<Part>,
    /// The socket the step uses, opened by an earlier `open` step.
    socket: Option<&'s SocketName>,
    /// The socket must be TCP (half-close, reset, end-of-file).
    tcp_only: bool,
    /// Earlier steps whose results the step reads.
    after: &'static [Earlier],
}

/// A step that must come earlier in the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Earlier {
    /// A check of what the client did needs the client run first.
    RunClient,
    /// What the grader's server received needs the grader's server; so
    /// does a send naming `{origin}`, the address of a proxy's origin.
    Serve,
}

impl Needs<'_> {
    const NOTHING: Needs<'static> = Needs {
        part: None,
        socket: None,
        tcp_only: false,
        after: &[],
    };
}

fn needs(step: &Step) -> Needs<'_> {
    let on_socket = |socket, tcp_only| Needs {
        part: Some(Part::Server),
        socket: Some(socket),
        tcp_only,
        after: &[],
    };
    let client = |after| Needs {
        part: Some(Part::Client),
        after,
        ..Needs::NOTHING
    };
    match step {
        Step::Open { .. } => Needs {
            part: Some(Part::Server),
            ..Needs::NOTHING
        },
        // A request naming the origin's address needs the origin first.
        Step::Send(Send {
            socket,
            payload: Payload::Bytes(bytes),
            ..
        }) if crate::protocol::find(bytes, ORIGIN_PLACEHOLDER.as_bytes(), 0).is_some() => Needs {
            after: &[Earlier::Serve],
            ..on_socket(socket, false)
        },
        Step::Send(Send { socket, .. })
        | Step::Close { socket }
        | Step::Expect { socket, .. }
        | Step::ExpectSilence { socket, .. } => on_socket(socket, false),
        Step::ShutdownWrite { socket } | Step::Reset { socket } | Step::ExpectClosed { socket } => {
            on_socket(socket, true)
        }
        Step::Pause { .. } => Needs::NOTHING,
        // In a client test the grader's server listens on the port the
        // student's client is told; in a server test it is the origin a
        // proxy fetches from, on an address of its own.
        Step::Serve { .. } => Needs::NOTHING,
        Step::ExpectHits { .. } => Needs {
            after: &[Earlier::Serve],
            ..Needs::NOTHING
        },
        Step::RunClient { .. } => client(&[]),
        Step::ExpectOutput { .. } | Step::ExpectExit { .. } | Step::ExpectNoCrash => {
            client(&[Earlier::RunClient])
        }
        Step::ExpectSent(_) | Step::ExpectDialogue(_) | Step::Check(_) => {
            client(&[Earlier::RunClient, Earlier::Serve])
        }
    }
}

/// Validates a test's steps; errors carry the byte offset of the step.
fn validate_steps(
    part: Part,
    lab_transport: Transport,
    protocol: Protocol,
    raw_steps: Vec<Spanned<toml::Table>>,
    test_id: &str,
    test_offset: usize,
) -> Result<Vec<Step>, (usize, String)> {
    let mut open: HashMap<SocketName, Transport> = HashMap::new();
    let mut steps = Vec::with_capacity(raw_steps.len());
    let mut ran_client = false;
    let mut served = false;
    for spanned in raw_steps {
        let offset = spanned.span().start;
        let fail = |message: String| (offset, message);
        let raw: RawStep = toml::Value::Table(spanned.into_inner())
            .try_into()
            .map_err(|err: toml::de::Error| fail(describe_step_error(err.message())))?;
        let step = convert_step(raw, protocol, lab_transport).map_err(fail)?;
        let smtp_step = matches!(
            step,
            Step::Serve { smtp: Some(_), .. } | Step::ExpectDialogue(_)
        );
        if smtp_step && protocol != Protocol::Smtp {
            return Err(fail(
                "`smtp` and `expect_dialogue` are for labs with `protocol = \"smtp\"`".into(),
            ));
        }
        let needs = needs(&step);
        match (part, needs.part) {
            (Part::Server, Some(Part::Client)) => {
                return Err(fail(format!(
                    "test `{test_id}` is a server test but this step is for client tests"
                )));
            }
            (Part::Client, Some(Part::Server)) => {
                return Err(fail(format!(
                    "test `{test_id}` is a client test but this step is for server tests"
                )));
            }
            (Part::Server, Some(Part::Server) | None)
            | (Part::Client, Some(Part::Client) | None) => {}
        }
        if let Some(socket) = needs.socket {
            let Some(transport) = open.get(socket) else {
                return Err(fail(format!(
                    "socket `{socket}` is used before an `open` step opens it"
                )));
            };
            if needs.tcp_only && *transport == Transport::Udp {
                return Err(fail(format!(
                    "socket `{socket}` is UDP; this step needs TCP"
                )));
            }
        }
        for earlier in needs.after {
            let missing = match earlier {
                Earlier::RunClient => (!ran_client).then_some("`run_client`"),
                Earlier::Serve => (!served).then_some("`serve`"),
            };
            if let Some(missing) = missing {
                let what = match &step {
                    Step::Send(_) => "a send naming `{origin}`",
                    _ => "this check",
                };
                return Err(fail(format!("{what} needs a {missing} step before it")));
            }
        }
        match &step {
            Step::Open { socket, transport } => {
                open.insert(socket.clone(), *transport);
            }
            Step::RunClient { .. } => ran_client = true,
            Step::Serve { .. } => served = true,
            Step::Send(_)
            | Step::ShutdownWrite { .. }
            | Step::Reset { .. }
            | Step::Close { .. }
            | Step::Expect { .. }
            | Step::ExpectSilence { .. }
            | Step::ExpectClosed { .. }
            | Step::Pause { .. }
            | Step::ExpectOutput { .. }
            | Step::ExpectSent(_)
            | Step::ExpectDialogue(_)
            | Step::ExpectExit { .. }
            | Step::ExpectNoCrash
            | Step::ExpectHits { .. } => {}
            Step::Check(_) => {}
        }
        steps.push(step);
    }
    if part == Part::Client && !ran_client {
        return Err((
            test_offset,
            format!("client test `{test_id}` never runs the client: add a `run_client` step"),
        ));
    }
    Ok(steps)
}

/// Rewords serde's message for an unknown `do` value so it reads as a step.
fn describe_step_error(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        format!("unknown step {rest}")
    } else if message.starts_with("missing field `do`") {
        "a step needs `do = \"…\"` naming what it does".to_string()
    } else {
        message.to_string()
    }
}

fn socket_or_main(socket: Option<String>) -> SocketName {
    socket.unwrap_or_else(|| "main".to_string())
}

/// `value` within `min..=max`, or a message naming the field and the range.
fn check_range(name: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` = {value} is out of range: it must be from {min} to {max}"
        ))
    }
}

/// Every number a step gives, within [`bounds`].
fn check_step_bounds(raw: &RawStep) -> Result<(), String> {
    let milliseconds = |name: &str, value: u64| check_range(name, value, 0, bounds::MILLISECONDS);
    let bytes = |name: &str, value: usize| check_range(name, value as u64, 0, bounds::BYTES as u64);
    let reply = |reply: &RawReply| {
        reply
            .length
            .map_or(Ok(()), |length| bytes("length", length))
    };
    match raw {
        RawStep::Send {
            words,
            size,
            segments,
            pause_ms,
            ..
        } => {
            if let Some(words) = words {
                check_range("words", *words as u64, 0, bounds::WORDS as u64)?;
            }
            if let Some(size) = size {
                bytes("size", *size)?;
            }
            if segments.len() > bounds::SEGMENTS {
                return Err(format!(
                    "`segments` has {} sizes; it may have at most {}",
                    segments.len(),
                    bounds::SEGMENTS
                ));
            }
            for segment in segments {
                bytes("segments", *segment)?;
            }
            milliseconds("pause_ms", *pause_ms)
        }
        RawStep::Expect {
            reply: expected,
            within_ms,
            ..
        } => {
            reply(expected)?;
            within_ms.map_or(Ok(()), |within| milliseconds("within_ms", within))
        }
        RawStep::ExpectSent { reply: expected } => reply(expected),
        RawStep::ExpectSilence { ms, .. } | RawStep::Pause { ms } => milliseconds("ms", *ms),
        RawStep::Serve { delay_ms, smtp, .. } => {
            delay_ms.map_or(Ok(()), |delay| milliseconds("delay_ms", delay))?;
            smtp.iter()
                .flat_map(SmtpPlan::durations)
                .try_for_each(|(name, value)| milliseconds(name, value))
        }
        RawStep::ExpectHits { path, count } => {
            if !path.starts_with('/') {
                return Err(format!(
                    "`path` = {path:?}: the origin is asked for a path starting with '/'"
                ));
            }
            check_range("count", u64::from(*count), 0, u64::from(bounds::HITS))
        }
        RawStep::Open { .. }
        | RawStep::ShutdownWrite { .. }
        | RawStep::Reset { .. }
        | RawStep::Close { .. }
        | RawStep::ExpectClosed { .. }
        | RawStep::RunClient { .. }
        | RawStep::ExpectOutput { .. }
        | RawStep::ExpectExit { .. }
        | RawStep::ExpectDialogue { .. }
        | RawStep::ExpectNoCrash {}
        | RawStep::Check { .. } => Ok(()),
    }
}

fn convert_step(
    raw: RawStep,
    protocol: Protocol,
    lab_transport: Transport,
) -> Result<Step, String> {
    check_step_bounds(&raw)?;
    Ok(match raw {
        RawStep::Open { socket, transport } => Step::Open {
            socket: socket_or_main(socket),
            transport: transport.unwrap_or(lab_transport),
        },
        RawStep::Send {
            socket,
            text,
            hex,
            words,
            alphabet,
            size,
            newline,
            segments,
            pause_ms,
        } => {
            if alphabet.is_some() && words.is_none() {
                return Err("`alphabet` goes with `words`: it says which words are drawn".into());
            }
            let payload = match (text, hex, words, size) {
                (Some(text), None, None, None) => Payload::Bytes(text.into_bytes()),
                (None, Some(hex), None, None) => Payload::Bytes(decode_hex(&hex)?),
                (None, None, Some(count), None) => Payload::Words {
                    count,
                    alphabet: alphabet.unwrap_or_default(),
                },
                (None, None, None, Some(size)) => Payload::Size(size),
                _ => {
                    return Err(
                        "a `send` step needs exactly one of `text`, `hex`, `words` or `size`"
                            .into(),
                    );
                }
            };
            if segments.contains(&0) {
                return Err("`segments` sizes must be at least 1".into());
            }
            Step::Send(Send {
                socket: socket_or_main(socket),
                payload,
                newline,
                segments,
                pause_ms,
            })
        }
        RawStep::ShutdownWrite { socket } => Step::ShutdownWrite {
            socket: socket_or_main(socket),
        },
        RawStep::Reset { socket } => Step::Reset {
            socket: socket_or_main(socket),
        },
        RawStep::Close { socket } => Step::Close {
            socket: socket_or_main(socket),
        },
        RawStep::Expect {
            socket,
            reply,
            within_ms,
            lenient,
        } => Step::Expect {
            socket: socket_or_main(socket),
            expectation: convert_reply(reply)?,
            within_ms,
            lenient,
        },
        RawStep::ExpectSilence { socket, ms } => Step::ExpectSilence {
            socket: socket_or_main(socket),
            ms,
        },
        RawStep::ExpectClosed { socket } => Step::ExpectClosed {
            socket: socket_or_main(socket),
        },
        RawStep::Pause { ms } => Step::Pause { ms },
        RawStep::Serve {
            transport,
            behaviour,
            delay_ms,
            smtp,
        } => {
            let behaviour = match (behaviour, delay_ms) {
                (RawBehaviour::Late, Some(ms)) => PeerBehaviour::Late(ms),
                (RawBehaviour::Late, None) => {
                    return Err("behaviour `late` needs `delay_ms`".into());
                }
                (_, Some(_)) => return Err("`delay_ms` only goes with behaviour `late`".into()),
                (RawBehaviour::Reference, None) => PeerBehaviour::Reference,
                (RawBehaviour::Silent, None) => PeerBehaviour::Silent,
                (RawBehaviour::Twice, None) => PeerBehaviour::Twice,
                (RawBehaviour::CloseEarly, None) => PeerBehaviour::CloseEarly,
                (RawBehaviour::Absent, None) => PeerBehaviour::Absent,
                (RawBehaviour::Plan, None) if protocol.has_plan() => PeerBehaviour::Plan,
                (RawBehaviour::Plan, None) => {
                    return Err(
                        "behaviour `plan` is for labs whose protocol has a seeded plan (`protocol = \"pinger\"`)"
                            .into(),
                    );
                }
            };
            Step::Serve {
                transport: transport.unwrap_or(lab_transport),
                behaviour,
                smtp,
            }
        }
        RawStep::RunClient { stdin } => Step::RunClient {
            stdin: stdin.into_bytes(),
        },
        RawStep::ExpectOutput {
            stream,
            contains,
            regex,
            lacks,
        } => Step::ExpectOutput {
            stream,
            expectation: match (contains, regex, lacks) {
                (None, None, None) => ClientExpectation::Replies,
                (Some(text), None, None) => ClientExpectation::Contains(text.into_bytes()),
                (None, Some(pattern), None) => ClientExpectation::Regex(compile(&pattern)?),
                (None, None, Some(text)) => ClientExpectation::Lacks(text.into_bytes()),
                _ => {
                    return Err(
                        "`expect_output` takes at most one of `contains`, `regex`, `lacks`".into(),
                    );
                }
            },
        },
        RawStep::ExpectSent { reply } => Step::ExpectSent(convert_reply(reply)?),
        RawStep::ExpectExit { code, success } => match (code, success) {
            (Some(code), None) => Step::ExpectExit {
                code: Some(code),
                success: code == 0,
            },
            (None, Some(success)) => Step::ExpectExit {
                code: None,
                success,
            },
            _ => return Err("`expect_exit` takes exactly one of `code` or `success`".into()),
        },
        RawStep::ExpectNoCrash {} => Step::ExpectNoCrash,
        RawStep::ExpectDialogue { check } => Step::ExpectDialogue(check),
        RawStep::ExpectHits { path, count } => Step::ExpectHits { path, count },
        RawStep::Check { check } => match protocol.client_check(&check) {
            Some(check) => Step::Check(check),
            None => {
                let known = protocol.client_check_names();
                return Err(if known.is_empty() {
                    "this lab's protocol has no checks of its own for a `check` step".into()
                } else {
                    format!(
                        "unknown check `{check}`, expected one of {}",
                        known
                            .iter()
                            .map(|name| format!("`{name}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
            }
        },
    })
}

fn convert_reply(reply: RawReply) -> Result<Expectation, String> {
    Ok(match (reply.text, reply.hex, reply.regex, reply.length) {
        (None, None, None, None) => Expectation::Reference,
        (Some(text), None, None, None) => Expectation::Exact(text.into_bytes()),
        (None, Some(hex), None, None) => Expectation::Exact(decode_hex(&hex)?),
        (None, None, Some(pattern), None) => Expectation::Regex(compile(&pattern)?),
        (None, None, None, Some(length)) => Expectation::Length(length),
        _ => return Err("give at most one of `text`, `hex`, `regex` or `length`".into()),
    })
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|err| format!("invalid regex `{pattern}`: {err}"))
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("`hex` has an odd number of digits: `{hex}`"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("`hex` has a character that is not a hex digit: `{hex}`"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::HintLanguage;
    use super::*;

    const HEADER: &str =
        "[lab]\nname = \"t\"\ntitle = \"T\"\ntransport = \"udp\"\ntransform = \"uppercase\"\n";

    fn load(body: &str) -> Result<Lab, LabError> {
        load_str(&format!("{HEADER}{body}"), "t.toml")
    }

    const GOOD_TEST: &str = "[[test]]\nid = \"one\"\npart = \"server\"\npoints = 1\nhint = \"h\"\nsteps = [\n  { do = \"open\" },\n  { do = \"send\", text = \"hi\" },\n  { do = \"expect\" },\n]\n";

    #[test]
    fn the_digest_follows_what_grades_not_how_it_is_written() {
        let lab = load(GOOD_TEST).unwrap();
        assert!(lab.digest.starts_with("fnv1a64:"), "{}", lab.digest);
        let reworded = format!(
            "# a comment\n{}",
            HEADER.replace("title = \"T\"", "title = \"Another title\"")
        );
        let same = load_str(&format!("{reworded}{GOOD_TEST}"), "t.toml").unwrap();
        assert_eq!(same.digest, lab.digest);
        for changed in [
            GOOD_TEST.replace("points = 1", "points = 2"),
            GOOD_TEST.replace("text = \"hi\"", "text = \"ho\""),
            format!("{GOOD_TEST}[limits]\ntest_ms = 500\n"),
        ] {
            assert_ne!(load(&changed).unwrap().digest, lab.digest, "{changed}");
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_their_line_and_range() {
        let cases = [
            (
                GOOD_TEST.replace("text = \"hi\"", "size = 1000000000000"),
                13,
                "`size` = 1000000000000 is out of range: it must be from 0 to 16777216",
            ),
            (
                GOOD_TEST.replace("text = \"hi\"", "words = 9223372036854775807"),
                13,
                "`words`",
            ),
            (
                GOOD_TEST.replace(
                    "{ do = \"expect\" }",
                    "{ do = \"expect\", within_ms = 9000000000000000000 }",
                ),
                14,
                "`within_ms`",
            ),
            (
                GOOD_TEST.replace("points = 1", "points = 4000000000"),
                9,
                "`points` = 4000000000 is out of range",
            ),
            (
                GOOD_TEST.replace("points = 1", "points = 1\ntimeout_ms = 0"),
                10,
                "`timeout_ms` = 0",
            ),
            (
                format!("{GOOD_TEST}[limits]\ntest_ms = 100\nopen_files = 99999999999\n"),
                18,
                "[limits] `open_files` = 99999999999 is out of range",
            ),
        ];
        for (body, line, message) in cases {
            let err = load(&body).unwrap_err();
            assert_eq!(err.line, Some(line), "{err}");
            assert!(err.message.contains(message), "{err}");
        }
        let err = load_str(&format!("{}port = 0\n{GOOD_TEST}", HEADER), "t.toml").unwrap_err();
        assert_eq!(err.line, Some(6), "{err}");
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_its_line() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("latin1.toml");
        let mut bytes = format!("{HEADER}{GOOD_TEST}").into_bytes();
        let at = bytes.windows(4).position(|w| w == b"\"hi\"").unwrap() + 1;
        bytes[at] = 0xe9;
        std::fs::write(&path, bytes).unwrap();
        let err = load_file(&path).unwrap_err();
        assert_eq!(err.line, Some(13), "{err}");
        assert!(err.message.contains("not UTF-8"), "{err}");
        std::fs::write(&path, vec![b'#'; MAX_LAB_BYTES as usize + 1]).unwrap();
        assert!(
            load_file(&path)
                .unwrap_err()
                .message
                .contains("larger than")
        );
    }

    #[test]
    fn a_valid_lab_loads() {
        let lab = load(GOOD_TEST).unwrap();
        assert_eq!(lab.tests.len(), 1);
        assert_eq!(lab.tests[0].line, 7);
        assert_eq!(lab.tests[0].steps.len(), 3);
        assert_eq!(lab.port, 12000);
    }

    #[test]
    fn an_unknown_step_names_its_line() {
        let err = load(&GOOD_TEST.replace("do = \"send\"", "do = \"sned\"")).unwrap_err();
        assert_eq!(err.line, Some(13));
        assert!(err.message.starts_with("unknown step `sned`"), "{err}");
        assert!(
            err.to_string()
                .starts_with("lab file `t.toml`: line 13: unknown step")
        );
    }

    #[test]
    fn pinger_keys_are_checked_with_their_lines() {
        const PINGER: &str =
            "[lab]\nname = \"p\"\ntitle = \"P\"\ntransport = \"udp\"\nprotocol = \"pinger\"\n";
        let test = |check: &str| {
            format!(
                "[[test]]\nid = \"one\"\npart = \"client\"\npoints = 1\nhint = \"h\"\nsteps = [\n  {{ do = \"serve\", behaviour = \"plan\" }},\n  {{ do = \"run_client\", stdin = \"\" }},\n  {{ do = \"check\", check = \"{check}\" }},\n]\n"
            )
        };
        let lab = load_str(&format!("{PINGER}{}", test("rtt")), "p.toml").unwrap();
        assert_eq!(lab.protocol, Protocol::Pinger);
        let err = load_str(&format!("{PINGER}{}", test("rtts")), "p.toml").unwrap_err();
        assert_eq!(err.line, Some(14));
        assert!(
            err.message
                .starts_with("unknown check `rtts`, expected one of `ends`"),
            "{err}"
        );
        // A text lab has neither a plan nor checks of its own.
        let text = test("rtt");
        let err = load(&text).unwrap_err();
        assert_eq!(err.line, Some(12));
        assert!(err.message.contains("behaviour `plan`"), "{err}");
        let err = load(&text.replace(", behaviour = \"plan\"", "")).unwrap_err();
        assert_eq!(err.line, Some(14));
        assert!(err.message.contains("has no checks of its own"), "{err}");
        let err = load_str(
            &format!("{}{}", PINGER.replace("\"udp\"", "\"tcp\""), test("rtt")),
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4));
    }

    #[test]
    fn an_unknown_field_in_a_step_names_the_step_line() {
        let err = load(&GOOD_TEST.replace("text = \"hi\"", "txt = \"hi\"")).unwrap_err();
        assert_eq!(err.line, Some(13));
        assert!(err.message.contains("unknown field `txt`"), "{err}");
    }

    #[test]
    fn a_misspelt_test_field_names_its_line() {
        let err = load(&GOOD_TEST.replace("points = 1", "pionts = 1")).unwrap_err();
        assert_eq!(err.line, Some(9));
        assert!(err.message.contains("unknown field `pionts`"), "{err}");
    }

    #[test]
    fn a_socket_must_be_opened_first() {
        let err = load(&GOOD_TEST.replace(
            "{ do = \"send\", text = \"hi\" }",
            "{ do = \"send\", socket = \"b\", text = \"hi\" }",
        ))
        .unwrap_err();
        assert_eq!(err.line, Some(13));
        assert!(err.message.contains("socket `b` is used before"), "{err}");
    }

    #[test]
    fn send_needs_exactly_one_payload() {
        let err =
            load(&GOOD_TEST.replace("text = \"hi\"", "text = \"hi\", words = 3")).unwrap_err();
        assert!(err.message.contains("exactly one of"), "{err}");
    }

    #[test]
    fn duplicate_ids_and_bad_hex_are_refused() {
        let twice = format!("{GOOD_TEST}{GOOD_TEST}");
        let err = load(&twice).unwrap_err();
        assert!(err.message.contains("already used on line 7"), "{err}");
        let err = load(&GOOD_TEST.replace("text = \"hi\"", "hex = \"6g\"")).unwrap_err();
        assert!(err.message.contains("not a hex digit"), "{err}");
        assert_eq!(decode_hex("68 69").unwrap(), b"hi");
    }

    #[test]
    fn malformed_toml_names_its_line() {
        let err = load("[[test]\nid = 1\n").unwrap_err();
        assert_eq!(err.line, Some(6));
    }

    #[test]
    fn what_the_grader_heard_needs_the_graders_server() {
        let client_test = "[[test]]\nid = \"c\"\npart = \"client\"\npoints = 1\nhint = \"h\"\nsteps = [\n  { do = \"run_client\", stdin = \"x\" },\n  { do = \"expect_sent\" },\n]\n";
        let err = load(client_test).unwrap_err();
        assert!(err.message.contains("`serve` step"), "{err}");
        let served = client_test.replace("steps = [\n", "steps = [\n  { do = \"serve\" },\n");
        load(&served).unwrap();
    }

    #[test]
    fn a_server_test_may_serve_an_origin_and_name_it_after() {
        let origin = GOOD_TEST.replace(
            "{ do = \"send\", text = \"hi\" }",
            "{ do = \"send\", text = \"GET /{origin}/a HTTP/1.0\\r\\n\\r\\n\" }",
        );
        let err = load(&origin).unwrap_err();
        assert!(err.message.contains("`serve` step"), "{err}");
        assert_eq!(err.line, Some(13));
        let served = origin.replace("steps = [\n", "steps = [\n  { do = \"serve\" },\n");
        let lab = load(&served).unwrap();
        assert!(matches!(lab.tests[0].steps[0], Step::Serve { .. }));
        let counted = served.replace(
            "{ do = \"expect\" }",
            "{ do = \"expect\" },\n  { do = \"expect_hits\", path = \"/a\", count = 1 }",
        );
        assert!(matches!(
            load(&counted).unwrap().tests[0].steps.last(),
            Some(Step::ExpectHits { count: 1, .. })
        ));
        let before_serve = GOOD_TEST.replace(
            "{ do = \"expect\" }",
            "{ do = \"expect_hits\", path = \"/a\", count = 1 }",
        );
        assert!(
            load(&before_serve)
                .unwrap_err()
                .message
                .contains("`serve` step")
        );
        for (wrong, words) in [
            ("path = \"a\", count = 1", "starting with '/'"),
            (
                "path = \"/a\", count = 5000",
                "`count` = 5000 is out of range",
            ),
        ] {
            let err = load(&counted.replace("path = \"/a\", count = 1", wrong)).unwrap_err();
            assert!(err.message.contains(words), "{err}");
        }
    }

    #[test]
    fn client_steps_belong_to_client_tests() {
        let err = load(&GOOD_TEST.replace(
            "{ do = \"expect\" }",
            "{ do = \"run_client\", stdin = \"x\" }",
        ))
        .unwrap_err();
        assert!(err.message.contains("client tests"), "{err}");
    }

    #[test]
    fn conventions_give_names_or_python_files_and_derive_the_other() {
        let named = load(&format!(
            "[lab.conventions]\nserver_names = [\"UDPServer\", \"server\"]\n{GOOD_TEST}"
        ))
        .unwrap();
        assert_eq!(
            named.conventions.server_files,
            ["UDPServer.py", "server.py"]
        );
        let older = load(&format!(
            "[lab.conventions]\nclient_files = [\"UDPClient.py\"]\n{GOOD_TEST}"
        ))
        .unwrap();
        assert_eq!(older.conventions.client_names, ["UDPClient"]);
        let err = load(&format!(
            "[lab.conventions]\nserver_names = [\"UDPServer.py\"]\n{GOOD_TEST}"
        ))
        .unwrap_err();
        assert!(
            err.message.contains("without a folder or an extension"),
            "{err}"
        );
    }

    const CLIENT_TEST: &str = "[[test]]\nid = \"two\"\npart = \"client\"\npoints = 3\nhint = \"h\"\nsteps = [\n  { do = \"serve\" },\n  { do = \"run_client\", stdin = \"hi\\n\" },\n  { do = \"expect_output\" },\n]\n";

    fn with_parts(parts: &str) -> Result<Lab, LabError> {
        let header = HEADER.replace("transform", &format!("parts = {parts}\ntransform"));
        load_str(&format!("{header}{GOOD_TEST}{CLIENT_TEST}"), "t.toml")
    }

    #[test]
    fn parts_assign_only_their_tests_and_say_what_was_left_out() {
        let both = load(&format!("{GOOD_TEST}{CLIENT_TEST}")).unwrap();
        assert_eq!(both.parts(), [Part::Server, Part::Client]);
        assert_eq!(both.assignment_note(), None);
        let server = with_parts("[\"server\"]").unwrap();
        assert_eq!(server.parts(), [Part::Server]);
        assert_eq!(server.max_score(), 1);
        assert_eq!(server.unassigned(), [(Part::Client, 3)]);
        assert_eq!(
            server.assignment_note().unwrap(),
            "Assigned: the server only. The lab's client tests (3 points) are not part of this assignment and were not run."
        );
        assert_ne!(server.digest, both.digest);
        // The command line's --part does what the lab file's setting does.
        let restricted = both.restricted_to(&[Part::Server]).unwrap();
        assert_eq!(restricted.tests.len(), 1);
        assert_eq!(restricted.unassigned(), server.unassigned());
        assert_ne!(restricted.digest, both.digest);
        assert_eq!(
            both.restricted_to(&[Part::Client, Part::Server])
                .unwrap()
                .digest,
            both.restricted_to(&[Part::Server, Part::Client])
                .unwrap()
                .digest
        );
        let refused = server.restricted_to(&[Part::Client]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "--part client: lab `t` cannot grade that part: its lab file assigns only the server"
        );
    }

    #[test]
    fn a_hint_can_be_worded_per_language() {
        let worded = GOOD_TEST.replace(
            "hint = \"h\"",
            "hint = { python = \"use try/except\", rust = \"match the io::Error\" }",
        );
        let lab = load(&worded).unwrap();
        assert_eq!(lab.tests[0].hint, "use try/except");
        let rust = lab.clone().with_hints(HintLanguage::Rust);
        assert_eq!(rust.tests[0].hint, "match the io::Error");
        let plain = load(GOOD_TEST).unwrap().with_hints(HintLanguage::Rust);
        assert_eq!(plain.tests[0].hint, "h");
        for (hint, message) in [
            ("{ rust = \"r\" }", "needs its `python` wording"),
            ("{ python = \"p\", java = \"j\" }", "`hint.java`"),
            ("{ python = 1 }", "`hint.python` must be a string"),
            ("3", "`hint` must be a string"),
        ] {
            let err = load(&GOOD_TEST.replace("\"h\"", hint)).unwrap_err();
            assert_eq!(err.line, Some(10), "{hint}: {err}");
            assert!(err.message.contains(message), "{hint}: {err}");
        }
    }

    #[test]
    fn one_test_can_be_graded_alone() {
        let lab = with_parts("[\"server\"]").unwrap();
        let one = lab.only_tests(&["one".into()]).unwrap();
        assert_eq!(one.tests.len(), 1);
        assert_ne!(one.digest, lab.digest);
        // A test of the part left out grades nothing, and is not an error.
        assert!(lab.only_tests(&["two".into()]).unwrap().tests.is_empty());
        assert_eq!(
            lab.only_tests(&["three".into()]).unwrap_err(),
            "--test three: lab `t` has no such test; its tests are one, two"
        );
    }

    #[test]
    fn a_wrong_parts_setting_is_refused_with_its_line() {
        for (parts, message) in [
            ("[]", "`parts` is empty"),
            ("[\"server\", \"server\"]", "`parts` lists `server` twice"),
            ("[\"sever\"]", "unknown variant `sever`"),
        ] {
            let err = with_parts(parts).unwrap_err();
            assert_eq!(err.line, Some(5), "{parts}: {err}");
            assert!(err.message.contains(message), "{parts}: {err}");
        }
        let header = HEADER.replace("transform", "parts = [\"client\"]\ntransform");
        let err = load_str(&format!("{header}{GOOD_TEST}"), "t.toml").unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(
            err.message
                .contains("no test has `part = \"client\"` (the tests are for the server)"),
            "{err}"
        );
    }

    #[test]
    fn smtp_steps_are_for_smtp_labs_and_bounded() {
        const SMTP: &str =
            "[lab]\nname = \"m\"\ntitle = \"M\"\ntransport = \"tcp\"\nprotocol = \"smtp\"\n";
        let client_test = |serve: &str| {
            format!(
                "[[test]]\nid = \"one\"\npart = \"client\"\npoints = 1\nhint = \"h\"\nsteps = [\n  {serve},\n  {{ do = \"run_client\", stdin = \"\" }},\n  {{ do = \"expect_dialogue\", check = \"delivered\" }},\n]\n"
            )
        };
        let good = client_test("{ do = \"serve\", smtp = { reply_ms = 10, multi_line = true } }");
        let lab = load_str(&format!("{SMTP}{good}"), "m.toml").unwrap();
        assert_eq!(lab.protocol, Protocol::Smtp);
        let too_long = client_test("{ do = \"serve\", smtp = { greeting_ms = 9000000 } }");
        let err = load_str(&format!("{SMTP}{too_long}"), "m.toml").unwrap_err();
        assert_eq!(err.line, Some(12), "{err}");
        assert!(err.message.contains("`greeting_ms` = 9000000"), "{err}");
        let unknown = client_test("{ do = \"serve\", smtp = { greet_ms = 1 } }");
        let err = load_str(&format!("{SMTP}{unknown}"), "m.toml").unwrap_err();
        assert_eq!(err.line, Some(12), "{err}");
        let text_lab = HEADER.replace("\"udp\"", "\"tcp\"");
        let err = load_str(&format!("{text_lab}{good}"), "t.toml").unwrap_err();
        assert_eq!(err.line, Some(12), "{err}");
        assert!(err.message.contains("protocol = \"smtp\""), "{err}");
        let with_transform = SMTP.replace("protocol", "transform = \"uppercase\"\nprotocol");
        let err = load_str(&format!("{with_transform}{good}"), "m.toml").unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
    }
}
