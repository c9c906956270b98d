//! The native JSON result, version 1, described by
//! `grader/schema/result-v1.schema.json`.
//!
//! Student bytes (replies, output tails) are escaped into plain strings by
//! `escape`, so the document is valid UTF-8 JSON whatever a submission sent.

use serde::Serialize;

use super::Audience;
use crate::escape::{
    TRANSCRIPT_BYTES, escape_field, escape_field_shortened, escape_lines, escape_text,
};
use crate::hint::HintKind;
use crate::outcome::{ExitReport, ProgramRun, SubmissionResult, TestResult, TranscriptEvent};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
pub struct JsonResult<'a> {
    pub schema_version: u32,
    pub lab: &'a str,
    pub lab_digest: &'a str,
    /// Escaped like program output (see `escape::escape_field`), as is every
    /// string below that a submission or its manifest could have shaped.
    pub submission: String,
    pub status: &'static str,
    pub status_message: Option<String>,
    pub score: u32,
    pub max_score: u32,
    pub seed: u64,
    pub isolation: JsonIsolation<'a>,
    pub duration_ms: u64,
    pub notes: Vec<String>,
    pub server: Option<JsonProgram>,
    pub client: Option<JsonProgram>,
    pub tests: Vec<JsonTest<'a>>,
}

#[derive(Serialize)]
pub struct JsonIsolation<'a> {
    pub tier: Option<&'static str>,
    pub reason: &'a str,
    pub protections: &'a [crate::cell::Protection],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets: Option<&'static str>,
}

#[derive(Serialize)]
pub struct JsonProgram {
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    pub starts: u32,
    pub exit: Option<JsonExit>,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonExit {
    Code(i32),
    Signal(i32),
}

#[derive(Serialize)]
pub struct JsonTest<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub part: &'static str,
    pub kind: crate::lab::Kind,
    pub visibility: crate::lab::Visibility,
    pub status: &'static str,
    pub score: u32,
    pub max_score: u32,
    pub message: Option<String>,
    pub hint: Option<String>,
    pub hint_kind: Option<HintKind>,
    pub duration_ms: u64,
    pub transcript: Vec<JsonEvent<'a>>,
}

#[derive(Serialize)]
pub struct JsonEvent<'a> {
    pub at_ms: u64,
    pub channel: &'a str,
    pub event: &'static str,
    pub data: String,
}

pub fn model<'a>(result: &'a SubmissionResult, audience: Audience) -> JsonResult<'a> {
    let shows_output = super::feedback::shows_program_output(result, audience);
    JsonResult {
        schema_version: SCHEMA_VERSION,
        lab: &result.lab,
        lab_digest: &result.lab_digest,
        submission: escape_field(&result.submission),
        status: result.status.as_str(),
        status_message: result.status.message().map(escape_text),
        score: result.score(),
        max_score: result.max_score(),
        seed: result.seed,
        isolation: JsonIsolation {
            tier: result.isolation.tier.map(|tier| tier.as_str()),
            reason: &result.isolation.reason,
            protections: &result.isolation.protections,
            sockets: result.isolation.sockets.map(|source| source.as_str()),
        },
        duration_ms: result.duration.as_millis() as u64,
        notes: result.notes.iter().map(|note| escape_text(note)).collect(),
        server: result.server.as_ref().map(|run| program(run, shows_output)),
        client: result.client.as_ref().map(|run| program(run, shows_output)),
        tests: result
            .tests
            .iter()
            .map(|test| self::test(test, audience))
            .collect(),
    }
}

/// How a program ran; its output tails are left empty when they may hold
/// what a hidden test sent (see `feedback::shows_program_output`).
fn program(run: &ProgramRun, shows_output: bool) -> JsonProgram {
    let tail = |bytes: &[u8]| {
        if shows_output {
            escape_lines(bytes)
        } else {
            String::new()
        }
    };
    JsonProgram {
        command: escape_field(&run.command),
        interpreter: run.interpreter.as_deref().map(escape_field),
        starts: run.starts,
        exit: run.exit.as_ref().map(|exit| match exit {
            ExitReport::Code(code) => JsonExit::Code(*code),
            ExitReport::Signal(signal) => JsonExit::Signal(*signal),
        }),
        stdout_tail: tail(&run.stdout_tail),
        stderr_tail: tail(&run.stderr_tail),
    }
}

fn test(test: &TestResult, audience: Audience) -> JsonTest<'_> {
    let details = audience.shows_details(test);
    JsonTest {
        id: &test.id,
        name: &test.name,
        part: test.part.as_str(),
        kind: test.kind,
        visibility: test.visibility,
        status: test.outcome.status(),
        score: test.score(),
        max_score: test.max_score,
        message: test.outcome.message().filter(|_| details).map(escape_text),
        hint: test
            .hint
            .as_ref()
            .filter(|_| details)
            .map(|hint| escape_text(&hint.text)),
        hint_kind: test.hint.as_ref().map(|hint| hint.kind).filter(|_| details),
        duration_ms: test.duration.as_millis() as u64,
        transcript: if details {
            test.transcript
                .iter()
                .map(|entry| JsonEvent {
                    at_ms: entry.at.as_millis() as u64,
                    channel: &entry.channel,
                    event: entry.event.kind(),
                    data: match &entry.event {
                        TranscriptEvent::Sent(bytes) | TranscriptEvent::Received(bytes) => {
                            escape_field_shortened(bytes, TRANSCRIPT_BYTES)
                        }
                        TranscriptEvent::Note(text) => escape_text(text),
                    },
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

pub fn render(result: &SubmissionResult, audience: Audience) -> String {
    let mut text = serde_json::to_string_pretty(&model(result, audience))
        .expect("the result model always serialises");
    text.push('\n');
    text
}
