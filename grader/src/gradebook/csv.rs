//! The gradebook as CSV (RFC 4180), for spreadsheets and LMS grade imports:
//! one row per submission, a column per test id holding the points scored,
//! then the total.
//!
//! A submission the grader could not grade (`error`) has empty points rather
//! than zeros, so an import does not record a grade nobody earned or lost.

use super::{Gradebook, RowStatus};
use crate::escape::escape_field;

pub fn render(gradebook: &Gradebook) -> String {
    let mut header = vec!["submission".to_string(), "status".to_string()];
    header.extend(gradebook.tests.iter().map(|column| column.id.clone()));
    header.extend(["total".to_string(), "max_score".to_string()]);
    let mut text = line(&header);
    for row in &gradebook.submissions {
        let graded = row.status != RowStatus::Error;
        // A directory name is the student's: escaped like program output,
        // so the file holds no control byte a terminal or importer acts on.
        let mut fields = vec![escape_field(&row.name), row.status.as_str().to_string()];
        fields.extend(gradebook.tests.iter().map(|column| {
            row.tests
                .iter()
                .find(|test| test.id == column.id)
                .map(|test| test.score.to_string())
                .unwrap_or_default()
        }));
        fields.push(if graded {
            row.score.to_string()
        } else {
            String::new()
        });
        fields.push(gradebook.max_score.to_string());
        text.push_str(&line(&fields));
    }
    text
}

fn line(fields: &[String]) -> String {
    let mut text = fields
        .iter()
        .map(|field| quote(field))
        .collect::<Vec<_>>()
        .join(",");
    text.push_str("\r\n");
    text
}

/// Quotes a field when CSV needs it, and defuses text a spreadsheet would
/// run as a formula (a directory named `=HYPERLINK(…)`), by prefixing `'`.
fn quote(field: &str) -> String {
    let defused = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) || defused.trim() != defused {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradebook::{Column, Row, TestMark, TestStatus};

    #[test]
    fn one_row_per_submission_and_a_column_per_test() {
        let columns = vec![
            Column {
                id: "one".into(),
                name: "One".into(),
                max_score: 2,
            },
            Column {
                id: "two".into(),
                name: "Two".into(),
                max_score: 1,
            },
        ];
        let graded = Row {
            name: "smith, jo".into(),
            status: RowStatus::Graded,
            message: None,
            score: 2,
            max_score: 3,
            seed: Some(7),
            duration_ms: 10,
            tests: vec![
                TestMark {
                    id: "one".into(),
                    status: TestStatus::Pass,
                    score: 2,
                    hint_kind: None,
                },
                TestMark {
                    id: "two".into(),
                    status: TestStatus::Fail,
                    score: 0,
                    hint_kind: None,
                },
            ],
        };
        let broken = Row::error("=cmd()", 3, "unreadable".into());
        let book = Gradebook::new(
            "lab".into(),
            columns,
            Some(7),
            None,
            true,
            vec![graded, broken],
        );
        assert_eq!(
            render(&book),
            "submission,status,one,two,total,max_score\r\n\
             '=cmd(),error,,,,3\r\n\
             \"smith, jo\",graded,2,0,2,3\r\n"
        );
    }
}
