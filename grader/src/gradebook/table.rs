//! The gradebook as a table for a terminal: each submission's score, and for
//! the ones that lost points, which tests failed.

use super::{Gradebook, RowStatus, TestStatus};
use crate::escape::escape_field_shortened;

pub fn render(gradebook: &Gradebook) -> String {
    let names: Vec<String> = gradebook
        .submissions
        .iter()
        .map(|row| escape_field_shortened(row.name.as_bytes(), 60))
        .collect();
    let width = names
        .iter()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0)
        .max("submission".len());
    let score_width = format!("{0}/{0}", gradebook.max_score).len();
    let mut text = format!(
        "{:<width$}  {:>score_width$}  notes\n",
        "submission", "score"
    );
    for (row, name) in gradebook.submissions.iter().zip(&names) {
        let score = match row.status {
            RowStatus::Error => "-".to_string(),
            RowStatus::Graded | RowStatus::NotRunnable => {
                format!("{}/{}", row.score, row.max_score)
            }
        };
        let notes = match row.status {
            RowStatus::Graded => {
                let failed: Vec<&str> = row
                    .tests
                    .iter()
                    .filter(|test| match test.status {
                        TestStatus::Fail | TestStatus::Timeout | TestStatus::Error => true,
                        TestStatus::Pass | TestStatus::Skipped => false,
                    })
                    .map(|test| test.id.as_str())
                    .collect();
                let skipped = row
                    .tests
                    .iter()
                    .filter(|test| test.status == TestStatus::Skipped)
                    .count();
                let mut notes = Vec::new();
                if !failed.is_empty() {
                    notes.push(format!("failed: {}", failed.join(" ")));
                }
                if skipped > 0 {
                    notes.push(format!("{skipped} skipped"));
                }
                notes.join("; ")
            }
            RowStatus::NotRunnable | RowStatus::Error => {
                let reason = row
                    .message
                    .as_deref()
                    .and_then(|message| message.lines().next())
                    .unwrap_or("");
                format!(
                    "{}: {}",
                    row.status.as_str(),
                    escape_field_shortened(reason.as_bytes(), 120)
                )
            }
        };
        let line = format!("{name:<width$}  {score:>score_width$}  {notes}");
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}
