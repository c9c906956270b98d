//! A gradebook read back from a results directory (`grader batch
//! --results-dir`): one row per `<name>.json` result file, for `grader
//! report` when no gradebook was kept, or when per-submission pages are
//! wanted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Column, Gradebook, Row, RowStatus};
use crate::report::html::StoredResult;

/// What a results directory holds.
#[derive(Debug)]
pub struct ResultFiles {
    /// Each submission's result file, by submission name.
    pub files: BTreeMap<String, PathBuf>,
    /// Files passed over, and why.
    pub skipped: Vec<String>,
}

/// The result files in `dir`: every `*.json` but hidden files.
pub fn list(dir: &Path) -> Result<ResultFiles, String> {
    let unreadable = |err: std::io::Error| format!("reading `{}`: {err}", dir.display());
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let (Some(stem), Some("json")) = (
            path.file_stem().and_then(|stem| stem.to_str()),
            path.extension().and_then(|ext| ext.to_str()),
        ) else {
            continue;
        };
        if stem.starts_with('.') || !path.is_file() {
            continue;
        }
        files.insert(stem.to_string(), path);
    }
    Ok(ResultFiles {
        files,
        skipped: Vec::new(),
    })
}

/// The gradebook of the result files in `dir`. The lab and its tests are
/// those of the first result (by name) that has tests; a file that is not a
/// result, or is one for another lab or other tests, is passed over and said
/// so. The batch seed is not in result files, so it is unknown (`None`).
pub fn gradebook(dir: &Path) -> Result<(Gradebook, ResultFiles), String> {
    let mut listed = list(dir)?;
    let mut read = Vec::new();
    for (name, path) in std::mem::take(&mut listed.files) {
        let parsed = std::fs::read_to_string(&path)
            .map_err(|err| err.to_string())
            .and_then(|text| StoredResult::from_json(&text).map(|stored| (text, stored)));
        match parsed {
            Ok((text, stored)) => read.push((name, path, text, stored)),
            Err(err) => listed.skipped.push(format!("`{}`: {err}", path.display())),
        }
    }
    let columns_of = |stored: &StoredResult| -> Vec<Column> {
        stored
            .tests
            .iter()
            .map(|test| Column {
                id: test.id.clone(),
                name: test.name.clone(),
                max_score: test.max_score,
            })
            .collect()
    };
    let reference = read
        .iter()
        .find(|(_, _, _, stored)| !stored.tests.is_empty())
        .or(read.first())
        .map(|(_, _, _, stored)| (stored.lab.clone(), columns_of(stored)));
    let Some((lab, columns)) = reference else {
        return Err(format!("no result files (`*.json`) in `{}`", dir.display()));
    };
    let mut rows = Vec::new();
    for (name, path, text, stored) in read {
        // A grader error may have no tests at all; it still belongs.
        let fits = stored.lab == lab
            && (columns_of(&stored) == columns
                || (stored.status == RowStatus::Error && stored.tests.is_empty()));
        if !fits {
            listed.skipped.push(format!(
                "`{}`: a result for lab `{}` with other tests than the others",
                path.display(),
                stored.lab
            ));
            continue;
        }
        rows.push(
            Row::from_result_json(&name, &lab, &text)
                .map_err(|err| format!("`{}`: {err}", path.display()))?,
        );
        listed.files.insert(name, path);
    }
    Ok((Gradebook::new(lab, columns, None, None, true, rows), listed))
}
