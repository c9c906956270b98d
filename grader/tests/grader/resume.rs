//! Resumed batches trust only what the grader wrote: a forged result file is
//! graded again, and so is every result graded with an older version of the
//! lab's definition, each with a line saying why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{grader_binary, repo};

fn textbook_server() -> PathBuf {
    repo().join("fixtures/submissions/tcp-uppercase/textbook/TCPServer.py")
}

fn batch(lab: &Path, class: &Path, results: &Path, gradebook: &Path) -> Output {
    Command::new(grader_binary())
        .args(["batch"])
        .arg(lab)
        .arg(class)
        .arg("--results-dir")
        .arg(results)
        .arg("-o")
        .arg(gradebook)
        .args(["--isolation", "process", "--seed", "11"])
        .output()
        .unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn row<'a>(book: &'a Value, name: &str) -> &'a Value {
    book["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == name)
        .unwrap()
}

#[test]
fn forged_and_outdated_results_are_graded_again_with_a_note() {
    let root = tempfile::tempdir().unwrap();
    let class = root.path().join("class");
    for name in ["alice", "bob", "carol"] {
        std::fs::create_dir_all(class.join(name)).unwrap();
        std::fs::copy(textbook_server(), class.join(name).join("TCPServer.py")).unwrap();
    }
    let lab = root.path().join("tcp-uppercase.toml");
    let original =
        std::fs::read_to_string(repo().join("fixtures/labs/tcp-uppercase.toml")).unwrap();
    std::fs::write(&lab, &original).unwrap();
    let results = root.path().join("results");
    let gradebook = root.path().join("gradebook.json");

    let first = batch(&lab, &class, &results, &gradebook);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let honest = read(&gradebook);
    let honest_score = row(&honest, "alice")["score"].as_u64().unwrap();
    let max_before = honest["max_score"].as_u64().unwrap();
    let result = read(&results.join("alice.json"));
    assert!(
        result["lab_digest"]
            .as_str()
            .unwrap()
            .starts_with("fnv1a64:"),
        "{result:#}"
    );

    // A program (or a hand) writes a perfect score into alice's result, and
    // leaves bob's a result whose total is not its tests'.
    let mut forged = read(&results.join("alice.json"));
    forged["score"] = 999.into();
    std::fs::write(results.join("alice.json"), forged.to_string()).unwrap();
    let mut inconsistent = read(&results.join("bob.json"));
    for test in inconsistent["tests"].as_array_mut().unwrap() {
        test["status"] = "pass".into();
    }
    std::fs::write(results.join("bob.json"), inconsistent.to_string()).unwrap();
    let second = batch(&lab, &class, &results, &gradebook);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("alice: its earlier result file is not reused (its score 999/"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bob: its earlier result file is not reused (test `"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 earlier result files not trusted"),
        "{stderr}"
    );
    let book = read(&gradebook);
    assert_eq!(row(&book, "alice")["score"].as_u64(), Some(honest_score));
    assert_eq!(row(&book, "bob")["score"].as_u64(), Some(honest_score));
    assert!(
        stderr.contains("1 read from earlier result files"),
        "carol's is reused: {stderr}"
    );

    // The instructor gives the first test 3 more points under the same id:
    // every row is graded again against the new definition.
    let changed = original.replacen("points = 2", "points = 5", 1);
    assert_ne!(changed, original);
    std::fs::write(&lab, changed).unwrap();
    let third = batch(&lab, &class, &results, &gradebook);
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 earlier result files not trusted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("another version of the lab's definition"),
        "{stderr}"
    );
    let book = read(&gradebook);
    assert_eq!(book["max_score"].as_u64(), Some(max_before + 3));
    for name in ["alice", "bob", "carol"] {
        assert_eq!(
            row(&book, name)["max_score"].as_u64(),
            Some(max_before + 3),
            "{name}"
        );
    }
}
