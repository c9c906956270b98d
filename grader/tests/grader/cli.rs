//! The `grader` command line end to end: exit codes, messages, the JSON
//! result and its schema.

use std::process::Output;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use crate::support::{SEED, grader_binary, repo};

fn grader() -> Command {
    let mut command = Command::new(grader_binary());
    command.current_dir(repo());
    command
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Validates `instance` against `grader/schema/result-v1.schema.json`.
fn assert_matches_schema(instance: &Value) {
    let schema_path = repo().join("grader/schema/result-v1.schema.json");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    let index = compiler
        .compile(schema_path.to_str().expect("utf-8 path"), &mut schemas)
        .unwrap_or_else(|err| panic!("the schema itself is invalid: {err}"));
    if let Err(err) = schemas.validate(instance, index) {
        panic!("result does not match the schema: {err:#}\n{instance:#}");
    }
}

#[test]
fn the_reference_gets_full_marks_on_every_lab_and_matches_the_schema() {
    for lab in crate::support::lab_names() {
        let output = grader()
            .args([
                "grade",
                lab,
                "--format",
                "json",
                "--seed",
                &SEED.to_string(),
            ])
            .output()
            .expect("grader runs");
        assert!(
            output.status.success(),
            "{lab}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result = json_of(&output);
        assert_matches_schema(&result);
        assert_eq!(result["status"], "graded", "{lab}");
        assert_eq!(
            result["score"], result["max_score"],
            "{lab} (seed {SEED}): {result:#}"
        );
        assert!(result["max_score"].as_u64().unwrap() > 0);
        assert_eq!(result["seed"], SEED);
    }
}

#[test]
fn a_failing_submission_matches_the_schema_and_explains_itself() {
    let output = grader()
        .args([
            "grade",
            "tcp-uppercase",
            "fixtures/submissions/tcp-uppercase/textbook",
            "--format",
            "json",
        ])
        .output()
        .expect("grader runs");
    assert!(output.status.success());
    let result = json_of(&output);
    assert_matches_schema(&result);
    let reset = result["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|test| test["id"] == "reset-client")
        .expect("test listed");
    assert_eq!(reset["status"], "fail");
    assert!(
        reset["message"]
            .as_str()
            .unwrap()
            .contains("ConnectionResetError"),
        "{reset:#}"
    );
    assert!(
        reset["hint"]
            .as_str()
            .unwrap()
            .contains("ConnectionResetError"),
        "{reset:#}"
    );
}

#[test]
fn a_lab_file_with_a_typo_is_refused_with_its_line() {
    let scratch = tempfile::tempdir().unwrap();
    let lab_file = scratch.path().join("typo.toml");
    let text = std::fs::read_to_string(repo().join("fixtures/labs/udp-uppercase.toml")).unwrap();
    let typo = text.replacen(
        "{ do = \"send\", words = 5 }",
        "{ do = \"sned\", words = 5 }",
        1,
    );
    assert_ne!(text, typo, "the typo was made");
    let line = typo
        .lines()
        .position(|line| line.contains("\"sned\""))
        .unwrap()
        + 1;
    std::fs::write(&lab_file, typo).unwrap();
    grader()
        .args(["grade", lab_file.to_str().unwrap(), "--format", "json"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "typo.toml`: line {line}: unknown step `sned`"
        )));
}

#[test]
fn unknown_labs_and_missing_submissions_are_bad_input() {
    grader()
        .args(["grade", "udp-uppercas"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("unknown lab `udp-uppercas`")
                .and(predicate::str::contains("udp-uppercase")),
        );
    grader()
        .args(["grade", "udp-uppercase", "no/such/submission"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "grader: submission `no/such/submission`",
        ));
    grader()
        .args(["grade", "udp-uppercase", "--limit", "memory=5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown field `memory`"));
}

#[test]
fn an_empty_submission_is_graded_zero_as_not_runnable() {
    let empty = tempfile::tempdir().unwrap();
    let output = grader()
        .args([
            "grade",
            "udp-uppercase",
            empty.path().to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "a student's failure is a result, not an error"
    );
    let result = json_of(&output);
    assert_matches_schema(&result);
    assert_eq!(result["status"], "not_runnable");
    assert_eq!(result["score"], 0);
    assert!(result["status_message"].as_str().unwrap().contains("empty"));
    assert!(
        result["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|test| test["status"] == "fail")
    );
}

#[test]
fn output_files_and_fail_under() {
    let scratch = tempfile::tempdir().unwrap();
    let report = scratch.path().join("result.json");
    grader()
        .args([
            "grade",
            "udp-count-s",
            "--format",
            "json",
            "--fail-under",
            "100%",
            "-o",
            report.to_str().unwrap(),
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty());
    assert_matches_schema(&serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the report, no temporary file");

    // The textbook UDP server fails a robustness test, so it is below 100%.
    grader()
        .args([
            "grade",
            "udp-uppercase",
            "fixtures/submissions/udp-uppercase/textbook",
            "--fail-under",
            "100%",
            "--format",
            "json",
        ])
        .assert()
        .code(1);
    grader()
        .args(["grade", "udp-uppercase", "--fail-under", "lots"])
        .assert()
        .code(2);
}

#[test]
fn list_names_every_lab_and_test() {
    let output = grader().arg("list").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for (name, _, _) in grader::lab::BUILTIN_LABS {
        let lab = crate::support::lab(name);
        assert!(text.contains(&lab.name));
        for test in &lab.tests {
            assert!(
                text.contains(&test.id),
                "{} missing from `grader list`",
                test.id
            );
        }
    }
}

#[test]
fn human_output_has_no_colour_when_piped_and_names_the_score() {
    let output = grader()
        .args(["grade", "udp-count-s", "--format", "human"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no escape codes off a terminal");
    assert!(text.contains("score: 14/14"), "{text}");
}
