//! The report people read in a terminal: one line per test, and under each
//! failed test what was sent, expected and received, and the hint.

use std::fmt::Write;

use super::Audience;
use crate::escape::{escape_field, escape_lines, escape_text};
use crate::lab::Part;
use crate::outcome::{Outcome, SubmissionResult, SubmissionStatus};

struct Palette {
    color: bool,
}

impl Palette {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// Whether to use colour on standard output: only on a terminal, and never
/// when NO_COLOR is set (no-color.org).
pub fn color_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

pub fn render(result: &SubmissionResult, audience: Audience, color: bool) -> String {
    let palette = Palette { color };
    let mut out = String::new();
    let tier = result
        .isolation
        .tier
        .map_or("no cell", |tier| tier.as_str());
    let _ = writeln!(
        out,
        "{} {}  {}",
        palette.bold(&escape_field(&result.lab)),
        escape_field(&result.submission),
        palette.dim(&format!(
            "(seed {}, {tier} isolation: {})",
            result.seed,
            escape_text(&result.isolation.reason)
        ))
    );
    for note in &result.notes {
        let _ = writeln!(
            out,
            "  {} {}",
            palette.yellow("note:"),
            indent(&escape_text(note), 4).trim_start()
        );
    }
    let status = match &result.status {
        SubmissionStatus::Graded => None,
        SubmissionStatus::NotRunnable { reason } => Some((palette.red("not runnable:"), reason)),
        // Not the student's fault (a tool missing from the grading machine).
        SubmissionStatus::Error { message } => Some((palette.yellow("grader error:"), message)),
    };
    if let Some((label, text)) = status {
        let _ = writeln!(
            out,
            "  {label} {}",
            indent(&escape_text(text), 4).trim_start()
        );
    }
    let width = result
        .tests
        .iter()
        .map(|test| test.id.len())
        .max()
        .unwrap_or(0);
    for test in &result.tests {
        let label = match test.outcome {
            Outcome::Pass => palette.green("PASS"),
            Outcome::Fail { .. } => palette.red("FAIL"),
            Outcome::Timeout { .. } => palette.red("TIME"),
            Outcome::Error { .. } => palette.yellow("ERR "),
            Outcome::Skipped { .. } => palette.dim("SKIP"),
        };
        let _ = writeln!(
            out,
            "  {label}  {:<7} {:<width$}  {}/{}  {}",
            test.part.as_str(),
            escape_field(&test.id),
            test.score(),
            test.max_score,
            palette.dim(&escape_field(&test.name)),
        );
        if test.outcome.is_pass() {
            continue;
        }
        if !audience.shows_details(test) {
            let _ = writeln!(
                out,
                "        {}",
                palette.dim("(details of hidden tests are not shown)")
            );
            continue;
        }
        if let Some(message) = test.outcome.message() {
            let _ = writeln!(out, "{}", indent(&escape_text(message), 8));
        }
        if let Some(hint) = &test.hint {
            let _ = writeln!(
                out,
                "        {} {}",
                palette.yellow("hint:"),
                escape_text(&hint.text)
            );
        }
    }
    // The server's last words, when one of its tests failed. (A client runs
    // once per test, and its output is already in each failed test's message.)
    let server_failed = result
        .tests
        .iter()
        .any(|test| test.part == Part::Server && !test.outcome.is_pass());
    let shows_output = super::feedback::shows_program_output(result, audience);
    if let (Some(run), true, true) = (&result.server, server_failed, shows_output) {
        if let (Some(exit), false) = (&run.exit, run.stderr_tail.is_empty()) {
            let _ = writeln!(
                out,
                "  server `{}` ended with {exit}; the end of its stderr:",
                escape_field(&run.command)
            );
            let _ = writeln!(out, "{}", indent(&escape_lines(&run.stderr_tail), 8));
        }
    }
    let passed = result
        .tests
        .iter()
        .filter(|test| test.outcome.is_pass())
        .count();
    let _ = writeln!(
        out,
        "{} {}/{}  ({passed} of {} tests passed in {:.2} s)",
        palette.bold("score:"),
        result.score(),
        result.max_score(),
        result.tests.len(),
        result.duration.as_secs_f64()
    );
    out
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
