//! Showing a batch's progress on standard error: a progress bar on a
//! terminal, one plain line per submission otherwise (CI logs, `2> file`),
//! where a bar's redraws would be noise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Event, signal_name};
use crate::escape::escape_field_shortened;
use crate::gradebook::{Row, RowStatus};

pub enum Progress {
    Bar(Option<ProgressBar>),
    Lines,
    Quiet,
}

impl Progress {
    /// A bar when standard error is a terminal, lines otherwise.
    pub fn on_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Bar(None)
        } else {
            Progress::Lines
        }
    }

    pub fn show(&mut self, event: &Event<'_>) {
        match self {
            Progress::Quiet => {}
            Progress::Lines => match event {
                Event::Started { .. } | Event::Interrupted { .. } | Event::NotReused { .. } => {
                    say(&describe(event))
                }
                Event::Finished {
                    row,
                    done,
                    to_grade,
                } => {
                    let width = to_grade.to_string().len();
                    say(&format!("[{done:>width$}/{to_grade}] {}", row_line(row)));
                }
            },
            Progress::Bar(bar) => match event {
                Event::Started { total, reused, .. } => {
                    say(&describe(event));
                    let new = ProgressBar::new((total - reused) as u64).with_style(
                        ProgressStyle::with_template(
                            "{elapsed_precise} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left) {msg}",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    );
                    new.enable_steady_tick(Duration::from_millis(250));
                    *bar = Some(new);
                }
                Event::Finished { row, .. } => {
                    let Some(bar) = bar else { return };
                    if row.status != RowStatus::Graded {
                        bar.println(row_line(row));
                    }
                    bar.set_message(row_line(row));
                    bar.inc(1);
                }
                Event::Interrupted { .. } | Event::NotReused { .. } => match bar {
                    Some(bar) => bar.println(describe(event)),
                    None => say(&describe(event)),
                },
            },
        }
    }

    /// Clears the bar, before the closing summary is printed.
    pub fn finish(&mut self) {
        if let Progress::Bar(Some(bar)) = self {
            bar.finish_and_clear();
        }
    }
}

/// Writes a line to standard error, ignoring failure: a batch whose
/// standard error was closed (`2>&-`, `|& head`) goes on grading and writes
/// its gradebook, where `eprintln!` would panic.
fn say(line: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(line.as_bytes())
        .and_then(|()| stderr.write_all(b"\n"));
}

fn describe(event: &Event<'_>) -> String {
    match event {
        Event::Started {
            lab,
            total,
            reused,
            jobs,
        } => {
            let mut text = format!(
                "grading {} submission{} of {lab} with {jobs} job{}",
                total - reused,
                if total - reused == 1 { "" } else { "s" },
                if *jobs == 1 { "" } else { "s" }
            );
            if *reused > 0 {
                text.push_str(&format!(
                    " ({reused} of {total} already graded in the results directory)"
                ));
            }
            text
        }
        Event::Interrupted { signal, running } => format!(
            "{}: starting nothing new; letting the {running} grading{} under way finish (their results are discarded)",
            signal_name(*signal),
            if *running == 1 { "" } else { "s" }
        ),
        Event::NotReused { name, why } => format!(
            "{}: its earlier result file is not reused ({}); grading it again",
            escape_field_shortened(name.as_bytes(), 60),
            escape_field_shortened(why.as_bytes(), 200)
        ),
        Event::Finished { row, .. } => row_line(row),
    }
}

/// `alice  11/13`, or why the submission has no real score.
fn row_line(row: &Row) -> String {
    let name = escape_field_shortened(row.name.as_bytes(), 60);
    match row.status {
        RowStatus::Graded => format!("{name}  {}/{}", row.score, row.max_score),
        RowStatus::NotRunnable | RowStatus::Error => {
            let reason = row
                .message
                .as_deref()
                .and_then(|message| message.lines().next())
                .unwrap_or("");
            let score = match row.status {
                RowStatus::NotRunnable => format!("{}/{} ", row.score, row.max_score),
                RowStatus::Graded | RowStatus::Error => String::new(),
            };
            format!(
                "{name}  {score}{}: {}",
                row.status.as_str(),
                escape_field_shortened(reason.as_bytes(), 120)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_and_reasons_cannot_be_workflow_commands() {
        let row = Row {
            name: "::error::forged\x1b[2J".into(),
            status: RowStatus::NotRunnable,
            message: Some("::warning::x\r\x07".into()),
            score: 0,
            max_score: 13,
            seed: Some(1),
            duration_ms: 0,
            tests: Vec::new(),
        };
        let line = row_line(&row);
        assert!(!line.starts_with("::"), "{line}");
        assert!(!line.contains(": ::"), "{line}");
        assert!(!line.chars().any(char::is_control), "{line}");
        let why = describe(&Event::NotReused {
            name: "::notice::x",
            why: "it is not JSON",
        });
        assert!(why.starts_with("\\u{3a}:notice"), "{why}");
    }
}
