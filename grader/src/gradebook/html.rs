//! The class report: one self-contained HTML page an instructor opens after a
//! batch (`grader batch --html`, `grader merge --html`, `grader report`).
//!
//! It holds the class summary, a score histogram, each test's pass rate from
//! the most failed, the most frequent diagnoses (hint kinds) with the
//! submissions that got them, the submissions that could not run, and every
//! submission's row. Charts are inline SVG drawn here; nothing needs a script
//! to be read (the one small script only sorts the submissions table).
//!
//! Everything comes from the [`Gradebook`], so a merged gradebook renders
//! exactly as a whole class does. Numbers the page shows are also in `data-`
//! attributes (`data-count` on histogram bins, `data-passed` and
//! `data-counted` on test rows), so a test, or a reader's own script, can
//! check the page against the gradebook.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Gradebook, Row, RowStatus, TestStatus};
use crate::escape::html;
use crate::hint::HintKind;
use crate::report::html::{StoredResult, card, page, row_status_look, status_look};
use crate::report::{self, Audience};

/// Sorts the submissions table when a column head is clicked.
const SORT_SCRIPT: &str = r#"
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th[data-sort]").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = th.getAttribute("data-sort") === "number";
      var down = th.getAttribute("aria-sort") !== "ascending";
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-key");
        var y = b.cells[column].getAttribute("data-key");
        var order = numeric ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);
        return down ? order : -order;
      });
      table.querySelectorAll("th[data-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", down ? "ascending" : "descending");
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"#;

/// What the class report is made of.
pub struct ClassReport<'a> {
    pub gradebook: &'a Gradebook,
    /// Each submission's own page, relative to the report, when written
    /// (`grader report --pages`).
    pub pages: &'a BTreeMap<String, String>,
    /// What the reader should know about the data, e.g. a merge's warnings.
    pub notes: &'a [String],
}

/// Scores of the submissions that count (graded and not runnable).
struct Scores {
    sorted: Vec<u32>,
}

impl Scores {
    fn of(rows: &[Row]) -> Scores {
        let mut sorted: Vec<u32> = rows
            .iter()
            .filter(|row| row.status != RowStatus::Error)
            .map(|row| row.score)
            .collect();
        sorted.sort_unstable();
        Scores { sorted }
    }

    /// The `p`-quantile, interpolated between the two nearest scores (the
    /// median of [`super::Summary`] is the 0.5-quantile).
    fn quantile(&self, p: f64) -> Option<f64> {
        let last = self.sorted.len().checked_sub(1)?;
        let at = p * last as f64;
        let below = at.floor() as usize;
        let above = at.ceil() as usize;
        let low = f64::from(self.sorted[below]);
        let high = f64::from(self.sorted[above]);
        Some(low + (high - low) * (at - below as f64))
    }
}

/// One bar of the histogram: the scores from `from` to `to`.
struct Bin {
    from: u32,
    to: u32,
    graded: usize,
    not_runnable: usize,
}

/// A bar per score when there are few possible scores, else about twenty
/// bins of equal width.
fn bins(rows: &[Row], max_score: u32) -> Vec<Bin> {
    let width = (max_score + 1).div_ceil(20).max(1);
    let mut bins: Vec<Bin> = (0..=max_score)
        .step_by(width as usize)
        .map(|from| Bin {
            from,
            to: (from + width - 1).min(max_score),
            graded: 0,
            not_runnable: 0,
        })
        .collect();
    for row in rows {
        // A score above the lab's maximum would be a corrupt gradebook; it
        // still counts, in the last bar, so the bars add up.
        let index = ((row.score / width) as usize).min(bins.len() - 1);
        match row.status {
            RowStatus::Graded => bins[index].graded += 1,
            RowStatus::NotRunnable => bins[index].not_runnable += 1,
            RowStatus::Error => {}
        }
    }
    bins
}

/// How often one hint kind was given.
struct Diagnosis {
    kind: HintKind,
    /// The submissions (row indices) that got it at least once.
    submissions: BTreeSet<usize>,
    /// In how many submissions each test got it.
    tests: BTreeMap<String, usize>,
}

/// The hint kinds of graded submissions' failed tests, the most frequent
/// first. Submissions that could not run are left out: every test of theirs
/// fails for the one reason listed with them.
fn diagnoses(book: &Gradebook) -> Vec<Diagnosis> {
    let mut by_kind: BTreeMap<HintKind, Diagnosis> = BTreeMap::new();
    for (index, row) in book.submissions.iter().enumerate() {
        if row.status != RowStatus::Graded {
            continue;
        }
        for mark in &row.tests {
            let Some(kind) = mark.hint_kind else { continue };
            let diagnosis = by_kind.entry(kind).or_insert_with(|| Diagnosis {
                kind,
                submissions: BTreeSet::new(),
                tests: BTreeMap::new(),
            });
            diagnosis.submissions.insert(index);
            *diagnosis.tests.entry(mark.id.clone()).or_default() += 1;
        }
    }
    let mut list: Vec<Diagnosis> = by_kind.into_values().collect();
    list.sort_by_key(|diagnosis| std::cmp::Reverse(diagnosis.submissions.len()));
    list
}

pub fn render(report: &ClassReport<'_>) -> String {
    let book = report.gradebook;
    let summary = &book.summary;
    let scores = Scores::of(&book.submissions);
    let mut body = String::new();
    let shard = book
        .shard
        .map_or(String::new(), |shard| format!(" · shard {shard}"));
    // Markup: the seed is a number, or words saying why there is none.
    let seed = book.seed.map_or(
        "not one (merged shards, or read from result files)".to_string(),
        |seed| format!("<code>{seed}</code>"),
    );
    let _ = writeln!(
        body,
        "<h1>Class report <span class=\"muted\">· {}</span></h1>\n<p class=\"sub\">lab <code>{}</code> · batch seed {}{shard} · {} points in {} tests{}</p>",
        html(&book.lab),
        html(&book.lab),
        seed,
        book.max_score,
        book.tests.len(),
        if book.complete {
            ""
        } else {
            " · <b>incomplete</b>: the batch was interrupted"
        }
    );
    for note in report.notes {
        let _ = writeln!(body, "<p class=\"hint\">{}</p>", html(note));
    }

    // The class in numbers.
    let number = |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{v:.1}"));
    let _ = writeln!(
        body,
        "<section id=\"summary\"><div class=\"cards\">{}{}{}{}{}{}{}{}{}</div></section>",
        card("submissions", &summary.submissions.to_string()),
        card("graded", &summary.graded.to_string()),
        card("not runnable", &summary.not_runnable.to_string()),
        card("grader errors", &summary.errors.to_string()),
        card("mean", &number(summary.mean)),
        card("median", &number(summary.median)),
        card("1st quartile", &number(scores.quantile(0.25))),
        card("3rd quartile", &number(scores.quantile(0.75))),
        card(
            "range",
            &match (summary.lowest, summary.highest) {
                (Some(low), Some(high)) => format!("{low} – {high}"),
                _ => "–".to_string(),
            }
        ),
    );

    write_histogram(&mut body, book, &scores);
    write_tests(&mut body, book);
    write_diagnoses(&mut body, report);
    write_could_not_run(&mut body, report);
    write_submissions(&mut body, report);
    let _ = writeln!(
        body,
        "<footer>socklab grader {} · lab <code>{}</code> · batch seed {}. Scores count graded and not-runnable submissions; grader errors are listed but never counted.</footer>",
        env!("CARGO_PKG_VERSION"),
        html(&book.lab),
        seed
    );
    page(
        &format!("Class report · {}", book.lab),
        &body,
        Some(SORT_SCRIPT),
    )
}

fn write_histogram(body: &mut String, book: &Gradebook, scores: &Scores) {
    let bins = bins(&book.submissions, book.max_score);
    let counted = scores.sorted.len();
    let tallest = bins
        .iter()
        .map(|bin| bin.graded + bin.not_runnable)
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, left, top, bottom) = (720.0, 240.0, 36.0, 18.0, 34.0);
    let plot = height - top - bottom;
    let step = (width - left - 8.0) / bins.len() as f64;
    let _ = writeln!(
        body,
        "<h2>Scores</h2>\n<p class=\"legend\">{counted} submissions with a score, out of {}.<i class=\"sw-graded\"></i>graded<i class=\"not_runnable\"></i>not runnable (scored 0)</p>\n\
         <svg class=\"chart\" id=\"histogram\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"score histogram\" data-counted=\"{counted}\">",
        book.max_score
    );
    // Horizontal guides at a few round counts.
    let guide = (tallest as f64 / 4.0).ceil().max(1.0) as usize;
    for count in (0..=tallest).step_by(guide) {
        let y = top + plot - plot * count as f64 / tallest as f64;
        let _ = writeln!(
            body,
            "<line class=\"axis\" x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{count}</text>",
            width - 8.0,
            left - 6.0,
            y + 4.0
        );
    }
    for (index, bin) in bins.iter().enumerate() {
        let x = left + step * index as f64 + step * 0.12;
        let bar = step * 0.76;
        let total = bin.graded + bin.not_runnable;
        let scaled = |count: usize| plot * count as f64 / tallest as f64;
        let range = if bin.from == bin.to {
            bin.from.to_string()
        } else {
            format!("{}–{}", bin.from, bin.to)
        };
        let _ = write!(
            body,
            "<g class=\"bin\" data-from=\"{}\" data-to=\"{}\" data-count=\"{total}\"><title>score {range}: {total} submission{}</title>",
            bin.from,
            bin.to,
            if total == 1 { "" } else { "s" }
        );
        let graded_top = top + plot - scaled(bin.graded);
        if bin.graded > 0 {
            let _ = write!(
                body,
                "<rect class=\"bar-graded\" x=\"{x:.1}\" y=\"{graded_top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" rx=\"2\"/>",
                scaled(bin.graded)
            );
        }
        if bin.not_runnable > 0 {
            let _ = write!(
                body,
                "<rect class=\"bar-nr\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" rx=\"2\"/>",
                graded_top - scaled(bin.not_runnable),
                scaled(bin.not_runnable)
            );
        }
        let center = x + bar / 2.0;
        if total > 0 {
            let _ = write!(
                body,
                "<text class=\"count\" x=\"{center:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{total}</text>",
                top + plot - scaled(total) - 4.0
            );
        }
        let _ = writeln!(
            body,
            "<text x=\"{center:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{range}</text></g>",
            top + plot + 16.0
        );
    }
    let _ = writeln!(
        body,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">score (points)</text>\n</svg>",
        left + (width - left) / 2.0,
        height - 2.0
    );
}

fn write_tests(body: &mut String, book: &Gradebook) {
    let mut order: Vec<usize> = (0..book.tests.len()).collect();
    // The most failed first; a test nobody was counted on goes last.
    let rate = |index: usize| {
        book.summary
            .tests
            .get(index)
            .and_then(|test| test.pass_rate)
    };
    order.sort_by(|&a, &b| match (rate(a), rate(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    body.push_str("<h2>Tests, the most failed first</h2>\n<table id=\"tests\"><thead><tr><th>test</th><th class=\"num\">points</th><th>pass rate</th><th class=\"num\">passed</th></tr></thead><tbody>\n");
    for index in order {
        let column = &book.tests[index];
        let Some(test) = book.summary.tests.iter().find(|test| test.id == column.id) else {
            continue;
        };
        let (percent, fraction) = match test.pass_rate {
            Some(rate) => (format!("{:.0}%", rate * 100.0), rate),
            None => ("–".to_string(), 0.0),
        };
        let level = if fraction < 0.5 {
            " low"
        } else if fraction < 0.8 {
            " mid"
        } else {
            ""
        };
        let _ = writeln!(
            body,
            "<tr class=\"test-rate\" data-test=\"{}\" data-passed=\"{}\" data-counted=\"{}\"><td><code>{}</code><br><span class=\"muted\">{}</span></td><td class=\"num\">{}</td>\
             <td><svg class=\"rate\" viewBox=\"0 0 160 12\" aria-hidden=\"true\"><rect class=\"track\" x=\"0.5\" y=\"0.5\" width=\"159\" height=\"11\" rx=\"3\"/><rect class=\"fill{level}\" x=\"0.5\" y=\"0.5\" width=\"{:.1}\" height=\"11\" rx=\"3\"/></svg> <b>{percent}</b></td>\
             <td class=\"num\">{} / {}</td></tr>",
            html(&test.id),
            test.passed,
            test.counted,
            html(&column.id),
            html(&column.name),
            column.max_score,
            159.0 * fraction,
            test.passed,
            test.counted
        );
    }
    body.push_str("</tbody></table>\n");
}

fn write_diagnoses(body: &mut String, report: &ClassReport<'_>) {
    let book = report.gradebook;
    let list = diagnoses(book);
    body.push_str("<h2>Most frequent diagnoses</h2>\n");
    if list.is_empty() {
        body.push_str("<p class=\"muted\" id=\"diagnoses\">No graded submission failed a test with a hint.</p>\n");
        return;
    }
    let graded = book.summary.graded.max(1);
    body.push_str("<p class=\"muted\">What the grader found in the failed tests of graded submissions, by the number of submissions it found it in.</p>\n<table id=\"diagnoses\"><thead><tr><th>diagnosis</th><th class=\"num\">submissions</th><th>in tests</th></tr></thead><tbody>\n");
    for diagnosis in &list {
        let count = diagnosis.submissions.len();
        let tests = diagnosis
            .tests
            .iter()
            .map(|(id, count)| format!("<code>{}</code> ×{count}", html(id)))
            .collect::<Vec<_>>()
            .join(", ");
        let links = diagnosis
            .submissions
            .iter()
            .map(|&index| submission_link(report, index))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            body,
            "<tr class=\"diagnosis\" data-kind=\"{}\" data-submissions=\"{count}\"><td><b>{}</b><br><code class=\"kind\">{}</code>\
             <details><summary class=\"muted\">who</summary>{links}</details></td>\
             <td class=\"num nowrap\"><svg class=\"rate\" viewBox=\"0 0 160 12\" aria-hidden=\"true\"><rect class=\"track\" x=\"0.5\" y=\"0.5\" width=\"159\" height=\"11\" rx=\"3\"/><rect class=\"fill mid\" x=\"0.5\" y=\"0.5\" width=\"{:.1}\" height=\"11\" rx=\"3\"/></svg> <b>{count}</b></td><td>{tests}</td></tr>",
            diagnosis.kind.as_str(),
            html(diagnosis.kind.label()),
            diagnosis.kind.as_str(),
            159.0 * (count as f64 / graded as f64).min(1.0),
        );
    }
    body.push_str("</tbody></table>\n");
}

/// A link to a submission: its page when there is one, else its row below.
fn submission_link(report: &ClassReport<'_>, index: usize) -> String {
    let row = &report.gradebook.submissions[index];
    let href = report
        .pages
        .get(&row.name)
        .map_or(format!("#s{index}"), |href| html(href));
    format!("<a href=\"{href}\">{}</a>", html(&row.name))
}

fn write_could_not_run(body: &mut String, report: &ClassReport<'_>) {
    let book = report.gradebook;
    let _ = writeln!(
        body,
        "<h2>Could not run ({})</h2>",
        book.summary.could_not_run.len()
    );
    if book.summary.could_not_run.is_empty() {
        body.push_str("<p class=\"muted\" id=\"could-not-run\">Every submission ran.</p>\n");
        return;
    }
    body.push_str("<ul class=\"plain\" id=\"could-not-run\">\n");
    for unrunnable in &book.summary.could_not_run {
        let index = book
            .submissions
            .iter()
            .position(|row| row.name == unrunnable.name);
        let name = index.map_or(html(&unrunnable.name), |index| {
            submission_link(report, index)
        });
        let (class, label) = row_status_look(unrunnable.status);
        let _ = writeln!(
            body,
            "<li class=\"unrunnable\" data-name=\"{}\"><span class=\"badge {class}\">{label}</span> <b>{name}</b><pre>{}</pre></li>",
            html(&unrunnable.name),
            html(&unrunnable.reason)
        );
    }
    body.push_str("</ul>\n");
}

fn write_submissions(body: &mut String, report: &ClassReport<'_>) {
    let book = report.gradebook;
    let _ = writeln!(
        body,
        "<h2>Submissions</h2>\n<p class=\"legend noprint\">Click a column head to sort.<i class=\"pass\"></i>pass<i class=\"fail\"></i>fail<i class=\"timeout\"></i>timeout<i class=\"error\"></i>grader error<i class=\"skipped\"></i>skipped</p>\n\
         <table class=\"sortable\" id=\"submissions\"><thead><tr><th data-sort=\"text\">submission</th><th data-sort=\"text\">status</th><th class=\"num\" data-sort=\"number\">score</th><th>tests ({})</th></tr></thead><tbody>",
        book.tests
            .iter()
            .map(|column| column.id.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (index, row) in book.submissions.iter().enumerate() {
        let (class, label) = row_status_look(row.status);
        let score = match row.status {
            RowStatus::Error => "–".to_string(),
            RowStatus::Graded | RowStatus::NotRunnable => {
                format!("{} / {}", row.score, row.max_score)
            }
        };
        let strip: String = book
            .tests
            .iter()
            .map(
                |column| match row.tests.iter().find(|mark| mark.id == column.id) {
                    Some(mark) => {
                        let (class, label) = status_look(mark.status);
                        let why = mark
                            .hint_kind
                            .map_or(String::new(), |kind| format!(" ({})", kind.as_str()));
                        format!(
                            "<i class=\"{class}\" title=\"{}: {label}{why}\"></i>",
                            html(&column.id)
                        )
                    }
                    None => format!(
                        "<i class=\"skipped\" title=\"{}: not graded\"></i>",
                        html(&column.id)
                    ),
                },
            )
            .collect();
        let failed: Vec<&str> = row
            .tests
            .iter()
            .filter(|mark| !matches!(mark.status, TestStatus::Pass))
            .map(|mark| mark.id.as_str())
            .collect();
        let sort_score = match row.status {
            RowStatus::Error => -1,
            RowStatus::Graded | RowStatus::NotRunnable => i64::from(row.score),
        };
        let _ = writeln!(
            body,
            "<tr id=\"s{index}\" class=\"submission\" data-status=\"{}\"><td data-key=\"{}\">{}</td><td data-key=\"{}\"><span class=\"badge {class}\">{label}</span></td><td class=\"num\" data-key=\"{sort_score}\">{score}</td><td><span class=\"strip\">{strip}</span> <span class=\"muted\">{}</span></td></tr>",
            row.status.as_str(),
            html(&row.name),
            submission_link(report, index),
            row.status.as_str(),
            html(&failed.join(" "))
        );
    }
    body.push_str("</tbody></table>\n");
}

/// Writes the page of each submission in `results` (name → result file)
/// into `dir` as `<name>.html`, and returns the link to each from the class
/// report at `report`, which links back.
pub fn write_pages(
    results: &BTreeMap<String, PathBuf>,
    dir: &Path,
    report: &Path,
) -> Result<BTreeMap<String, String>, String> {
    std::fs::create_dir_all(dir).map_err(|err| format!("creating `{}`: {err}", dir.display()))?;
    let report_dir = report
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let canonical = |path: &Path| {
        path.canonicalize()
            .map_err(|err| format!("`{}`: {err}", path.display()))
    };
    let (report_dir, pages_dir) = (canonical(report_dir)?, canonical(dir)?);
    let back = relative_href(
        &pages_dir,
        &report_dir,
        report.file_name().unwrap_or_default(),
    );
    let mut links = BTreeMap::new();
    for (name, path) in results {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("reading `{}`: {err}", path.display()))?;
        let stored =
            StoredResult::from_json(&text).map_err(|err| format!("`{}`: {err}", path.display()))?;
        let file = format!("{name}.html");
        let page = report::html::render_stored(&stored, Audience::default(), Some(&back));
        let target = pages_dir.join(&file);
        crate::atomic_file::write(&target, page.as_bytes())
            .map_err(|err| format!("writing `{}`: {err}", target.display()))?;
        links.insert(
            name.clone(),
            relative_href(&report_dir, &pages_dir, std::ffi::OsStr::new(&file)),
        );
    }
    Ok(links)
}

/// A relative URL from a page in directory `from` to the file `name` in
/// directory `to` (both absolute), each path segment percent-encoded.
fn relative_href(from: &Path, to: &Path, name: &std::ffi::OsStr) -> String {
    use std::path::Component;
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut segments: Vec<String> = vec!["..".to_string(); from.len() - common];
    segments.extend(
        to[common..]
            .iter()
            .map(|segment| percent_encode(segment.as_os_str())),
    );
    segments.push(percent_encode(name));
    segments.join("/")
}

/// Percent-encodes every byte of a path segment but the unreserved ones
/// (RFC 3986), so a submission named `a b#?` is still one link.
fn percent_encode(segment: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut encoded = String::new();
    for &byte in segment.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradebook::{Column, TestMark};

    fn book() -> Gradebook {
        let columns = vec![
            Column {
                id: "a".into(),
                name: "A".into(),
                max_score: 2,
            },
            Column {
                id: "b".into(),
                name: "B".into(),
                max_score: 1,
            },
        ];
        let row = |name: &str, status: RowStatus, marks: &[(&str, TestStatus, u32)]| Row {
            name: name.into(),
            status,
            message: (status != RowStatus::Graded).then(|| "<b>broke</b>".to_string()),
            score: marks.iter().map(|mark| mark.2).sum(),
            max_score: 3,
            seed: Some(1),
            duration_ms: 1,
            tests: marks
                .iter()
                .map(|(id, status, score)| TestMark {
                    id: id.to_string(),
                    status: *status,
                    score: *score,
                    hint_kind: (*status != TestStatus::Pass).then_some(HintKind::Echo),
                })
                .collect(),
        };
        use TestStatus::*;
        Gradebook::new(
            "lab".into(),
            columns,
            Some(9),
            None,
            true,
            vec![
                row("ada", RowStatus::Graded, &[("a", Pass, 2), ("b", Pass, 1)]),
                row("bo", RowStatus::Graded, &[("a", Fail, 0), ("b", Pass, 1)]),
                row(
                    "<cy>",
                    RowStatus::NotRunnable,
                    &[("a", Fail, 0), ("b", Fail, 0)],
                ),
                row("dee", RowStatus::Error, &[]),
            ],
        )
    }

    #[test]
    fn links_are_relative_and_encoded() {
        let href = relative_href(
            Path::new("/a/b"),
            Path::new("/a/c/d"),
            std::ffi::OsStr::new("x y#\"<.html"),
        );
        assert_eq!(href, "../c/d/x%20y%23%22%3C.html");
        let here = relative_href(
            Path::new("/a"),
            Path::new("/a"),
            std::ffi::OsStr::new("r.html"),
        );
        assert_eq!(here, "r.html");
    }

    #[test]
    fn quartiles_interpolate() {
        let scores = Scores {
            sorted: vec![0, 1, 3, 3],
        };
        assert_eq!(scores.quantile(0.5), Some(2.0));
        assert_eq!(scores.quantile(0.25), Some(0.75));
        assert_eq!(scores.quantile(1.0), Some(3.0));
        assert_eq!(Scores { sorted: vec![] }.quantile(0.5), None);
    }

    #[test]
    fn bins_count_every_scored_submission_once() {
        let book = book();
        let narrow = bins(&book.submissions, book.max_score);
        assert_eq!(narrow.len(), 4);
        let total: usize = narrow.iter().map(|bin| bin.graded + bin.not_runnable).sum();
        assert_eq!(total, 3);
        assert_eq!(narrow[0].not_runnable, 1);
        let wide = bins(&book.submissions, 100);
        assert_eq!(wide.len(), 17);
        assert_eq!((wide[0].from, wide[0].to), (0, 5));
        assert_eq!(wide.last().map(|bin| bin.to), Some(100));
    }

    #[test]
    fn diagnoses_count_graded_submissions_only() {
        let list = diagnoses(&book());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].kind, HintKind::Echo);
        assert_eq!(list[0].submissions.len(), 1);
    }

    #[test]
    fn names_and_reasons_are_escaped() {
        let book = book();
        let page = render(&ClassReport {
            gradebook: &book,
            pages: &BTreeMap::new(),
            notes: &[],
        });
        assert!(!page.contains("<cy>") && page.contains("&lt;cy&gt;"));
        assert!(!page.contains("<b>broke") && page.contains("&lt;b&gt;broke"));
        assert_eq!(page.matches("<script>").count(), 1);
    }
}
