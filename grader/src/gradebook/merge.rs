//! Joining the gradebooks of a class graded in shards (`grader merge`).
//!
//! Shards are joined only if they are parts of the same thing: the same lab
//! with the same tests, and no submission twice (a submission graded in two
//! shards means the shards were not cut from one class listing, and the two
//! grades may differ). Anything less certain, a missing shard or an
//! interrupted one, is merged with a warning.

use std::collections::{BTreeSet, HashMap};

use super::{Gradebook, Shard};

/// A merged gradebook, and what the person merging should know about it.
#[derive(Debug)]
pub struct Merged {
    pub gradebook: Gradebook,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    Nothing,
    LabsDiffer {
        first: (String, String),
        other: (String, String),
    },
    TestsDiffer {
        first: String,
        other: String,
    },
    Duplicate {
        name: String,
        first: String,
        other: String,
    },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Nothing => write!(f, "no gradebook to merge"),
            MergeError::LabsDiffer { first, other } => write!(
                f,
                "{} grades lab `{}` but {} grades lab `{}`",
                first.0, first.1, other.0, other.1
            ),
            MergeError::TestsDiffer { first, other } => write!(
                f,
                "{first} and {other} grade the same lab with different tests (another version of the lab file?)"
            ),
            MergeError::Duplicate { name, first, other } => write!(
                f,
                "submission `{name}` is in both {first} and {other}; shards of one class never share a submission"
            ),
        }
    }
}

impl std::error::Error for MergeError {}

/// Merges `books`, each named by where it came from (a file name, for
/// messages).
pub fn merge(books: Vec<(String, Gradebook)>) -> Result<Merged, MergeError> {
    let Some((first_source, first)) = books.first() else {
        return Err(MergeError::Nothing);
    };
    let mut warnings = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (source, book) in &books {
        if book.lab != first.lab {
            return Err(MergeError::LabsDiffer {
                first: (first_source.clone(), first.lab.clone()),
                other: (source.clone(), book.lab.clone()),
            });
        }
        if book.tests != first.tests {
            return Err(MergeError::TestsDiffer {
                first: first_source.clone(),
                other: source.clone(),
            });
        }
        for row in &book.submissions {
            if let Some(earlier) = seen.insert(row.name.clone(), source.clone()) {
                return Err(MergeError::Duplicate {
                    name: row.name.clone(),
                    first: earlier,
                    other: source.clone(),
                });
            }
        }
        if !book.complete {
            warnings.push(format!(
                "{source} is incomplete (its batch was interrupted); grade the rest with the same command and merge again"
            ));
        }
    }
    warnings.extend(shard_warnings(&books));
    let seeds: BTreeSet<Option<u64>> = books.iter().map(|(_, book)| book.seed).collect();
    let seed = match seeds.len() {
        1 => first.seed,
        _ => None,
    };
    let complete = books.iter().all(|(_, book)| book.complete);
    let lab = first.lab.clone();
    let tests = first.tests.clone();
    let rows = books
        .into_iter()
        .flat_map(|(_, book)| book.submissions)
        .collect();
    Ok(Merged {
        gradebook: Gradebook::new(lab, tests, seed, None, complete, rows),
        warnings,
    })
}

/// Shards that are missing, repeated, or cut from different shard counts.
fn shard_warnings(books: &[(String, Gradebook)]) -> Vec<String> {
    let shards: Vec<(&String, Shard)> = books
        .iter()
        .filter_map(|(source, book)| Some((source, book.shard?)))
        .collect();
    let Some((_, first)) = shards.first() else {
        return Vec::new();
    };
    let counts: BTreeSet<usize> = shards.iter().map(|(_, shard)| shard.count).collect();
    if counts.len() > 1 {
        return vec![format!(
            "the shards were cut in different ways ({}); check that every submission is in exactly one of them",
            shards
                .iter()
                .map(|(source, shard)| format!("{source}: {shard}"))
                .collect::<Vec<_>>()
                .join(", ")
        )];
    }
    let mut warnings = Vec::new();
    let present: BTreeSet<usize> = shards.iter().map(|(_, shard)| shard.index).collect();
    let missing: Vec<String> = (1..=first.count)
        .filter(|index| !present.contains(index))
        .map(|index| format!("{index}/{}", first.count))
        .collect();
    if !missing.is_empty() {
        warnings.push(format!(
            "shard{} {} {} missing: the merged gradebook lacks their submissions",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    if present.len() < shards.len() {
        warnings.push("the same shard was given more than once".to_string());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradebook::{Column, Row};

    fn book(lab: &str, shard: Option<Shard>, names: &[&str]) -> Gradebook {
        let columns = vec![Column {
            id: "t".into(),
            name: "T".into(),
            max_score: 1,
        }];
        let rows = names
            .iter()
            .map(|name| Row::error(name, 1, "x".into()))
            .collect();
        Gradebook::new(lab.into(), columns, Some(3), shard, true, rows)
    }

    #[test]
    fn shards_join_into_one_sorted_gradebook() {
        let merged = merge(vec![
            (
                "b.json".into(),
                book("l", Some(Shard { index: 2, count: 2 }), &["b", "d"]),
            ),
            (
                "a.json".into(),
                book("l", Some(Shard { index: 1, count: 2 }), &["a", "c"]),
            ),
        ])
        .unwrap();
        let names: Vec<&str> = merged
            .gradebook
            .submissions
            .iter()
            .map(|row| row.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(merged.gradebook.shard, None);
        assert_eq!(merged.gradebook.seed, Some(3));
        assert!(merged.warnings.is_empty(), "{:?}", merged.warnings);
    }

    #[test]
    fn different_labs_and_duplicates_are_refused() {
        let err = merge(vec![
            ("a.json".into(), book("l", None, &["a"])),
            ("b.json".into(), book("m", None, &["b"])),
        ])
        .unwrap_err();
        assert!(matches!(err, MergeError::LabsDiffer { .. }), "{err}");
        let err = merge(vec![
            ("a.json".into(), book("l", None, &["a", "x"])),
            ("b.json".into(), book("l", None, &["x"])),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "submission `x` is in both a.json and b.json; shards of one class never share a submission"
        );
    }

    #[test]
    fn a_missing_shard_is_a_warning() {
        let merged = merge(vec![(
            "a.json".into(),
            book("l", Some(Shard { index: 1, count: 3 }), &["a"]),
        )])
        .unwrap();
        assert_eq!(
            merged.warnings,
            ["shards 2/3, 3/3 are missing: the merged gradebook lacks their submissions"]
        );
    }
}
