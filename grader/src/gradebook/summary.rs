//! The summary of a class: how many submissions, their mean and median score,
//! each test's pass rate, and the submissions that could not run.
//!
//! Rows with status `error` are the grader's failures, never the student's:
//! they are listed, but left out of the scores and pass rates. A
//! `not_runnable` submission counts, with the zero it scored.

use serde::{Deserialize, Serialize};

use super::{Column, Row, RowStatus, TestStatus};
use crate::escape::escape_field_shortened;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub submissions: usize,
    pub graded: usize,
    pub not_runnable: usize,
    pub errors: usize,
    /// Over the submissions that are not `error`s; `None` when there are none.
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub lowest: Option<u32>,
    pub highest: Option<u32>,
    pub tests: Vec<TestSummary>,
    /// `not_runnable` and `error` submissions, with the reason.
    pub could_not_run: Vec<Unrunnable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    pub id: String,
    pub passed: usize,
    /// How many submissions the rate is out of.
    pub counted: usize,
    /// `passed / counted`, from 0 to 1; `None` when nothing counted.
    pub pass_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrunnable {
    pub name: String,
    pub status: RowStatus,
    pub reason: String,
}

impl Summary {
    pub fn of(columns: &[Column], rows: &[Row]) -> Summary {
        let counted: Vec<&Row> = rows
            .iter()
            .filter(|row| row.status != RowStatus::Error)
            .collect();
        let mut scores: Vec<u32> = counted.iter().map(|row| row.score).collect();
        scores.sort_unstable();
        let count_of = |status| rows.iter().filter(|row| row.status == status).count();
        Summary {
            submissions: rows.len(),
            graded: count_of(RowStatus::Graded),
            not_runnable: count_of(RowStatus::NotRunnable),
            errors: count_of(RowStatus::Error),
            mean: (!scores.is_empty()).then(|| {
                scores.iter().map(|&score| f64::from(score)).sum::<f64>() / scores.len() as f64
            }),
            median: median(&scores),
            lowest: scores.first().copied(),
            highest: scores.last().copied(),
            tests: columns
                .iter()
                .map(|column| {
                    let marks = counted
                        .iter()
                        .filter_map(|row| row.tests.iter().find(|test| test.id == column.id));
                    let (passed, counted) = marks.fold((0, 0), |(passed, counted), mark| {
                        (
                            passed + usize::from(mark.status == TestStatus::Pass),
                            counted + 1,
                        )
                    });
                    TestSummary {
                        id: column.id.clone(),
                        passed,
                        counted,
                        pass_rate: (counted > 0).then(|| passed as f64 / counted as f64),
                    }
                })
                .collect(),
            could_not_run: rows
                .iter()
                .filter(|row| row.status != RowStatus::Graded)
                .map(|row| Unrunnable {
                    name: row.name.clone(),
                    status: row.status,
                    reason: row.message.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The summary as lines for a terminal or a CI log: counts, mean, median,
    /// per-test pass rates, and who could not run (first line of the reason).
    pub fn describe(&self, max_score: u32) -> String {
        let mut text = format!(
            "{} submissions: {} graded, {} not runnable, {} grader errors\n",
            self.submissions, self.graded, self.not_runnable, self.errors
        );
        if let (Some(mean), Some(median), Some(lowest), Some(highest)) =
            (self.mean, self.median, self.lowest, self.highest)
        {
            text.push_str(&format!(
                "score out of {max_score}: mean {mean:.1}, median {median:.1}, lowest {lowest}, highest {highest}\n"
            ));
        }
        if !self.tests.is_empty() {
            text.push_str("pass rate per test:\n");
            let width = self
                .tests
                .iter()
                .map(|test| test.id.len())
                .max()
                .unwrap_or(0);
            for test in &self.tests {
                let rate = test
                    .pass_rate
                    .map(|rate| format!("{:>3.0}%", rate * 100.0))
                    .unwrap_or_else(|| "   -".into());
                text.push_str(&format!(
                    "  {:<width$}  {rate}  ({}/{})\n",
                    test.id, test.passed, test.counted
                ));
            }
        }
        if !self.could_not_run.is_empty() {
            text.push_str(&format!("could not run ({}):\n", self.could_not_run.len()));
            for unrunnable in &self.could_not_run {
                let reason = unrunnable.reason.lines().next().unwrap_or("");
                text.push_str(&format!(
                    "  {}  {}: {}\n",
                    escape_field_shortened(unrunnable.name.as_bytes(), 80),
                    unrunnable.status.as_str(),
                    escape_field_shortened(reason.as_bytes(), 160)
                ));
            }
        }
        text
    }
}

fn median(sorted: &[u32]) -> Option<f64> {
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        len if len % 2 == 1 => Some(f64::from(sorted[middle])),
        _ => Some((f64::from(sorted[middle - 1]) + f64::from(sorted[middle])) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradebook::TestMark;

    fn row(name: &str, status: RowStatus, marks: &[(&str, TestStatus, u32)]) -> Row {
        Row {
            name: name.into(),
            status,
            message: (status != RowStatus::Graded).then(|| format!("{name} went wrong\nmore")),
            score: marks.iter().map(|(_, _, score)| score).sum(),
            max_score: 3,
            seed: Some(1),
            duration_ms: 5,
            tests: marks
                .iter()
                .map(|(id, status, score)| TestMark {
                    id: id.to_string(),
                    status: *status,
                    score: *score,
                    hint_kind: None,
                })
                .collect(),
        }
    }

    #[test]
    fn errors_are_listed_but_not_counted_in_scores_or_rates() {
        let columns = vec![
            Column {
                id: "a".into(),
                name: "A".into(),
                max_score: 1,
            },
            Column {
                id: "b".into(),
                name: "B".into(),
                max_score: 2,
            },
        ];
        use TestStatus::*;
        let rows = vec![
            row("ada", RowStatus::Graded, &[("a", Pass, 1), ("b", Pass, 2)]),
            row("bob", RowStatus::Graded, &[("a", Pass, 1), ("b", Fail, 0)]),
            row(
                "cy",
                RowStatus::NotRunnable,
                &[("a", Fail, 0), ("b", Fail, 0)],
            ),
            row(
                "dee",
                RowStatus::Graded,
                &[("a", Timeout, 0), ("b", Pass, 2)],
            ),
            row("eve", RowStatus::Error, &[]),
        ];
        let summary = Summary::of(&columns, &rows);
        assert_eq!(summary.submissions, 5);
        assert_eq!(
            (summary.graded, summary.not_runnable, summary.errors),
            (3, 1, 1)
        );
        assert_eq!(summary.mean, Some(1.5));
        assert_eq!(summary.median, Some(1.5));
        assert_eq!((summary.lowest, summary.highest), (Some(0), Some(3)));
        assert_eq!(summary.tests[0].passed, 2);
        assert_eq!(summary.tests[0].counted, 4);
        assert_eq!(summary.tests[1].pass_rate, Some(0.5));
        let names: Vec<&str> = summary
            .could_not_run
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(names, ["cy", "eve"]);
        let text = summary.describe(3);
        assert!(text.contains("mean 1.5, median 1.5"), "{text}");
        assert!(text.contains("eve  error: eve went wrong\n"), "{text}");
    }

    #[test]
    fn an_empty_class_has_no_statistics() {
        let summary = Summary::of(&[], &[]);
        assert_eq!(summary.mean, None);
        assert_eq!(summary.median, None);
        assert!(summary.describe(0).starts_with("0 submissions"));
    }
}
