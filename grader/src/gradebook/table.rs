//! The gradebook as a table for a terminal: each submission's score, and for
//! the ones that lost points, which tests failed.

use unicode_width::UnicodeWidthStr;

use super::{Gradebook, RowStatus, TestStatus};
use crate::escape::escape_field_shortened;

/// `text` followed by spaces up to `width` terminal columns. `format!`'s
/// padding counts chars, which misaligns names in scripts whose characters
/// take two columns (`张伟`) or none (combining accents).
fn pad(text: &str, width: usize) -> String {
    let shown = text.width();
    format!("{text}{}", " ".repeat(width.saturating_sub(shown)))
}

pub fn render(gradebook: &Gradebook) -> String {
    let names: Vec<String> = gradebook
        .submissions
        .iter()
        .map(|row| escape_field_shortened(row.name.as_bytes(), 60))
        .collect();
    let width = names
        .iter()
        .map(|name| name.width())
        .max()
        .unwrap_or(0)
        .max("submission".len());
    let score_width = format!("{0}/{0}", gradebook.max_score).len();
    let mut text = format!(
        "{}  {:>score_width$}  notes\n",
        pad("submission", width),
        "score"
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
        let line = format!("{}  {score:>score_width$}  {notes}", pad(name, width));
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::pad;

    #[test]
    fn padding_counts_terminal_columns() {
        assert_eq!(pad("张伟", 6), "张伟  ");
        assert_eq!(pad("bob", 6), "bob   ");
        assert_eq!(pad("e\u{301}", 3), "e\u{301}  ");
        assert_eq!(pad("toolong", 3), "toolong");
    }
}
