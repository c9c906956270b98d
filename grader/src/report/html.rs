//! A student's report as one self-contained HTML page: each test's verdict,
//! message, hint and transcript, failed tests open and passed ones folded,
//! styled for reading on a screen and on paper.
//!
//! The page is a view of the native JSON result (`report::json`): `grader
//! grade --format html` renders the model it would have written, and `grader
//! report --pages` renders result files read back, so both show the same
//! thing. Student bytes are escaped twice over: into text by `escape` (control
//! characters and invalid UTF-8 become visible escapes) on the way into the
//! JSON model, then into HTML by `escape::html`. On top of that, the page's
//! Content-Security-Policy lets nothing load from anywhere and runs no script
//! but its own (named by hash), so a byte that got through would still run
//! nothing.
//!
//! [`page`] is the shell every HTML report shares (the class report of
//! `gradebook::html` too): one style sheet, no fonts, images or scripts from
//! outside, usable from `file://` and from a CI artifact.

use std::fmt::Write;

use base64::Engine;
use serde::Deserialize;

use super::Audience;
use crate::escape::html;
use crate::hint::HintKind;
use crate::lab::{Kind, Part, Visibility};
use crate::outcome::SubmissionResult;
use crate::outcome::{RowStatus, TestStatus};

/// The page's style sheet: system fonts, light and dark, and print rules.
const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--bg:#fff;--panel:#f6f8fa;--line:#d1d9e0;--pass:#1a7f37;--fail:#cf222e;--timeout:#bc4c00;--error:#8250df;--skipped:#6e7781;--nr:#d4a72c;--accent:#0969da;--bar:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#161b22;--line:#30363d;--pass:#3fb950;--fail:#f85149;--timeout:#db6d28;--error:#a371f7;--skipped:#8b949e;--nr:#d29922;--accent:#4493f8;--bar:#4493f8}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.sub{color:var(--muted);margin:0 0 18px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;font-size:13px}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:10px 12px;margin:8px 0;white-space:pre-wrap;overflow-wrap:anywhere}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(100px,1fr));gap:10px;margin:10px 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .v{font-size:22px;font-weight:600}.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.badge{display:inline-block;min-width:46px;text-align:center;border-radius:12px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}
.pass{background:var(--pass)}.fail{background:var(--fail)}.timeout{background:var(--timeout)}.error{background:var(--error)}.skipped{background:var(--skipped)}.not_runnable{background:var(--nr)}.graded{background:var(--pass)}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
th[data-sort]{cursor:pointer}th[data-sort]:hover{color:var(--fg)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
details.test{border:1px solid var(--line);border-radius:8px;margin:8px 0;background:var(--bg)}
details.test>summary{cursor:pointer;padding:8px 12px;list-style:none;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
details.test>summary::-webkit-details-marker{display:none}
details.test>summary::before{content:"\25b8";color:var(--muted)}details.test[open]>summary::before{content:"\25be"}
details.test .body{padding:0 14px 12px}
.pts{margin-left:auto;font-variant-numeric:tabular-nums;color:var(--muted)}
.hint{border-left:4px solid var(--timeout);background:var(--panel);padding:8px 12px;border-radius:0 6px 6px 0;margin:8px 0}
.kind{color:var(--muted);font-size:12px}
.banner{border:1px solid var(--fail);border-left-width:6px;border-radius:6px;padding:10px 14px;margin:14px 0;background:var(--panel)}
.muted{color:var(--muted)}
.chart{width:100%;height:auto;display:block}
.chart text{fill:var(--muted);font:11px system-ui,sans-serif}
.chart .count{fill:var(--fg);font-weight:600}
.chart .bar-graded{fill:var(--bar)}.chart .bar-nr{fill:var(--nr)}.chart .axis{stroke:var(--line)}
.rate{width:160px;height:12px;vertical-align:middle}
.rate .track{fill:var(--panel);stroke:var(--line)}.rate .fill{fill:var(--pass)}.rate .fill.low{fill:var(--fail)}.rate .fill.mid{fill:var(--timeout)}
.strip{display:inline-flex;gap:2px;vertical-align:middle}.strip i{display:inline-block;width:10px;height:14px;border-radius:2px}
.legend{color:var(--muted);font-size:13px}.legend i.sw-graded{background:var(--bar)}td.nowrap{white-space:nowrap}#diagnoses td:first-child{width:40%}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:baseline}
ul.plain{list-style:none;padding:0;margin:0}ul.plain>li{padding:8px 0;border-bottom:1px solid var(--line)}
.transcript td:nth-child(-n+3){white-space:nowrap}.transcript td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px;white-space:pre-wrap;overflow-wrap:anywhere}
footer{margin-top:40px;color:var(--muted);font-size:12px}
@media print{body{font-size:12px}main{max-width:none;padding:0}details.test{break-inside:avoid}th[data-sort]{cursor:auto}a{color:inherit}.noprint{display:none}}
"#;

/// A whole page: the shell every HTML report shares. `script` is the page's
/// only script, if any; the Content-Security-Policy names it and the style
/// sheet by hash, and allows nothing else: no network, no other script, no
/// other style, no form, no plug-in.
pub(crate) fn page(title: &str, body: &str, script: Option<&str>) -> String {
    let script_source = script.map_or("'none'".to_string(), csp_hash);
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src {}; script-src {script_source}; img-src data:; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"socklab grader {}\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>",
        csp_hash(STYLE),
        env!("CARGO_PKG_VERSION"),
        html(title),
    );
    if let Some(script) = script {
        let _ = writeln!(out, "<script>{script}</script>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The CSP source naming `text` by its SHA-256.
fn csp_hash(text: &str) -> String {
    let digest = crate::sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The CSS class and the short label of a test status.
pub(crate) fn status_look(status: TestStatus) -> (&'static str, &'static str) {
    match status {
        TestStatus::Pass => ("pass", "PASS"),
        TestStatus::Fail => ("fail", "FAIL"),
        TestStatus::Timeout => ("timeout", "TIME"),
        TestStatus::Error => ("error", "ERROR"),
        TestStatus::Skipped => ("skipped", "SKIP"),
    }
}

pub(crate) fn row_status_look(status: RowStatus) -> (&'static str, &'static str) {
    match status {
        RowStatus::Graded => ("graded", "graded"),
        RowStatus::NotRunnable => ("not_runnable", "not runnable"),
        RowStatus::Error => ("error", "grader error"),
    }
}

// The native JSON result, read back: what the page shows.

#[derive(Deserialize)]
pub struct StoredResult {
    pub schema_version: u32,
    pub lab: String,
    pub submission: String,
    pub status: RowStatus,
    pub status_message: Option<String>,
    pub score: u32,
    pub max_score: u32,
    pub seed: u64,
    pub isolation: StoredIsolation,
    pub duration_ms: u64,
    pub notes: Vec<String>,
    pub server: Option<StoredProgram>,
    pub client: Option<StoredProgram>,
    pub tests: Vec<StoredTest>,
}

#[derive(Deserialize)]
pub struct StoredIsolation {
    pub tier: Option<String>,
    pub reason: String,
}

#[derive(Deserialize)]
pub struct StoredProgram {
    pub command: String,
    pub starts: u32,
    pub exit: Option<StoredExit>,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredExit {
    Code(i32),
    Signal(i32),
}

#[derive(Deserialize)]
pub struct StoredTest {
    pub id: String,
    pub name: String,
    pub part: Part,
    pub kind: Kind,
    pub visibility: Visibility,
    pub status: TestStatus,
    pub score: u32,
    pub max_score: u32,
    pub message: Option<String>,
    pub hint: Option<String>,
    /// Absent in results written before hint kinds existed.
    #[serde(default)]
    pub hint_kind: Option<HintKind>,
    pub duration_ms: u64,
    pub transcript: Vec<StoredEvent>,
}

#[derive(Deserialize)]
pub struct StoredEvent {
    pub at_ms: u64,
    pub channel: String,
    pub event: EventKind,
    pub data: String,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Sent,
    Received,
    Note,
}

impl StoredResult {
    /// Reads a result file (the native JSON), checking its version.
    pub fn from_json(text: &str) -> Result<StoredResult, String> {
        let stored: StoredResult =
            serde_json::from_str(text).map_err(|err| format!("not a result file: {err}"))?;
        if stored.schema_version != super::json::SCHEMA_VERSION {
            return Err(format!(
                "result schema version {} (this grader reads {})",
                stored.schema_version,
                super::json::SCHEMA_VERSION
            ));
        }
        Ok(stored)
    }
}

/// `--format html`: the page of a result just graded.
pub fn render(result: &SubmissionResult, audience: Audience) -> String {
    let model = serde_json::to_value(super::json::model(result, audience))
        .expect("the result model always serialises");
    let stored: StoredResult =
        serde_json::from_value(model).expect("the result model reads back as a result");
    render_stored(&stored, audience, None)
}

/// The page of a result read back from its file; `class_report` is a link
/// back to the class report it was written with.
pub fn render_stored(
    result: &StoredResult,
    audience: Audience,
    class_report: Option<&str>,
) -> String {
    let shows =
        |test: &StoredTest| !audience.visible_only || test.visibility == Visibility::Visible;
    let shows_output = result.tests.iter().all(shows);
    let mut body = String::new();
    if let Some(href) = class_report {
        let _ = writeln!(
            body,
            "<p class=\"noprint\"><a href=\"{}\">← class report</a></p>",
            html(href)
        );
    }
    let passed = result
        .tests
        .iter()
        .filter(|test| test.status == TestStatus::Pass)
        .count();
    let _ = writeln!(
        body,
        "<h1>{} <span class=\"muted\">· {}</span></h1>\n<p class=\"sub\">seed <code>{}</code> · {} isolation ({}) · {:.2} s</p>",
        html(&result.submission),
        html(&result.lab),
        result.seed,
        html(result.isolation.tier.as_deref().unwrap_or("no cell")),
        html(&result.isolation.reason),
        result.duration_ms as f64 / 1000.0,
    );
    let _ = writeln!(
        body,
        "<div class=\"cards\">{}{}{}</div>",
        card("score", &format!("{} / {}", result.score, result.max_score)),
        card(
            "tests passed",
            &format!("{passed} of {}", result.tests.len())
        ),
        card("status", row_status_look(result.status).1),
    );
    if let Some(message) = &result.status_message {
        let (_, label) = row_status_look(result.status);
        let _ = writeln!(
            body,
            "<div class=\"banner\" id=\"status-message\"><b>{label}:</b><pre>{}</pre></div>",
            html(message)
        );
    }
    for note in &result.notes {
        let _ = writeln!(body, "<p class=\"hint\"><b>Note:</b> {}</p>", html(note));
    }
    body.push_str("<h2>Tests</h2>\n");
    for test in &result.tests {
        write_test(&mut body, test, shows(test));
    }
    let server_failed = result
        .tests
        .iter()
        .any(|test| test.part == Part::Server && test.status != TestStatus::Pass);
    if let (Some(run), true, true) = (&result.server, server_failed, shows_output) {
        write_program(&mut body, "server", run);
    }
    let _ = writeln!(
        body,
        "<footer>socklab grader {} · lab <code>{}</code> · seed <code>{}</code> (grade again with <code>--seed {}</code> to see the same sentences)</footer>",
        env!("CARGO_PKG_VERSION"),
        html(&result.lab),
        result.seed,
        result.seed
    );
    page(
        &format!("{} · {}", result.submission, result.lab),
        &body,
        None,
    )
}

pub(crate) fn card(key: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
        html(key),
        html(value)
    )
}

fn write_test(body: &mut String, test: &StoredTest, details: bool) {
    let (class, label) = status_look(test.status);
    // What needs reading is open; passes and skips fold away.
    let open = match test.status {
        TestStatus::Fail | TestStatus::Timeout | TestStatus::Error => " open",
        TestStatus::Pass | TestStatus::Skipped => "",
    };
    let _ = writeln!(
        body,
        "<details class=\"test\" id=\"test-{}\" data-status=\"{class}\"{open}>\n<summary><span class=\"badge {class}\">{label}</span> <span class=\"muted\">{}</span> <code>{}</code> {} <span class=\"pts\">{} / {}</span></summary>\n<div class=\"body\">",
        html(&test.id),
        part_name(test.part),
        html(&test.id),
        html(&test.name),
        test.score,
        test.max_score
    );
    if !details {
        body.push_str("<p class=\"muted\">The details of hidden tests are not shown. This test still counts in your score.</p>\n");
    } else {
        if let Some(message) = &test.message {
            let _ = writeln!(body, "<pre class=\"message\">{}</pre>", html(message));
        }
        if let Some(hint) = &test.hint {
            let kind = test.hint_kind.map_or(String::new(), |kind| {
                format!(" <span class=\"kind\">({})</span>", html(kind.as_str()))
            });
            let _ = writeln!(
                body,
                "<p class=\"hint\"><b>Hint:</b> {}{kind}</p>",
                html(hint)
            );
        }
        if !test.transcript.is_empty() {
            let _ = writeln!(
                body,
                "<table class=\"transcript\"><thead><tr><th class=\"num\">ms</th><th>channel</th><th>event</th><th>data</th></tr></thead><tbody>"
            );
            for event in &test.transcript {
                let name = match event.event {
                    EventKind::Sent => "sent",
                    EventKind::Received => "received",
                    EventKind::Note => "note",
                };
                let _ = writeln!(
                    body,
                    "<tr class=\"{name}\"><td class=\"num\">{}</td><td>{}</td><td>{name}</td><td>{}</td></tr>",
                    event.at_ms,
                    html(&event.channel),
                    html(&event.data)
                );
            }
            body.push_str("</tbody></table>\n");
        }
    }
    let _ = writeln!(
        body,
        "<p class=\"kind\">{} · {} · {} ms</p>\n</div>\n</details>",
        kind_name(test.kind),
        visibility_name(test.visibility),
        test.duration_ms
    );
}

fn write_program(body: &mut String, what: &str, run: &StoredProgram) {
    let ended = match &run.exit {
        Some(StoredExit::Code(code)) => format!("ended with exit status {code}"),
        Some(StoredExit::Signal(signal)) => format!("ended with signal {signal}"),
        None => "was stopped by the grader".to_string(),
    };
    let _ = writeln!(
        body,
        "<h2>Your {what}</h2>\n<p><code>{}</code> {ended}; started {} time{}.</p>",
        html(&run.command),
        run.starts,
        if run.starts == 1 { "" } else { "s" }
    );
    for (stream, tail) in [("stdout", &run.stdout_tail), ("stderr", &run.stderr_tail)] {
        if !tail.is_empty() {
            let _ = writeln!(
                body,
                "<p class=\"muted\">The end of its {stream}:</p><pre class=\"{stream}\">{}</pre>",
                html(tail)
            );
        }
    }
}

pub(crate) fn part_name(part: Part) -> &'static str {
    part.as_str()
}

fn kind_name(kind: Kind) -> &'static str {
    super::feedback::kind_name(kind)
}

fn visibility_name(visibility: Visibility) -> &'static str {
    super::feedback::visibility_name(visibility)
}
