//! Submissions in languages other than Python and Rust, with no
//! `socklab.toml`: the conventions find, build and run them; a tool missing
//! from the grading machine is the grader's error, not the student's; a
//! submission that never ran has one finding and no coding hints.

use grader::lab::{Kind, Part};
use grader::outcome::{Outcome, SubmissionResult, SubmissionStatus};
use grader::submission::Source;

use crate::support::{self, grade_fixture, grade_source, summary};

/// Whether `tool` is installed here; says so on the test's output when not.
fn installed(tool: &str) -> bool {
    let found = grader::conventions::tools::find(tool).is_some();
    if !found {
        eprintln!("`{tool}` is not installed on this machine: its half of the test is skipped");
    }
    found
}

fn server_command(result: &SubmissionResult) -> &str {
    result
        .server
        .as_ref()
        .map(|run| run.command.as_str())
        .unwrap_or("")
}

/// The server tests that did not pass, by id.
fn failed_server_tests(result: &SubmissionResult, core_only: bool) -> Vec<&str> {
    result
        .tests
        .iter()
        .filter(|test| test.part == Part::Server && (!core_only || test.kind == Kind::Core))
        .filter(|test| !test.outcome.is_pass())
        .map(|test| test.id.as_str())
        .collect()
}

#[test]
fn a_java_server_is_compiled_and_run_without_a_manifest() {
    if !(installed("javac") && installed("java")) {
        return;
    }
    let result = grade_fixture("udp-uppercase", "udp-uppercase/java-textbook");
    assert_eq!(
        result.status,
        SubmissionStatus::Graded,
        "{}",
        summary(&result)
    );
    assert_eq!(server_command(&result), "java -cp . UDPServer");
    assert!(result.server.as_ref().is_some_and(|run| run.starts >= 1));
}

/// The acceptance test of a JVM under the default limits: a correct Java
/// UDP server, written for this project, passes every core test.
#[test]
fn a_correct_java_udp_server_passes_every_core_test_under_the_default_limits() {
    if !(installed("javac") && installed("java")) {
        return;
    }
    let result = grade_fixture("udp-uppercase", "udp-uppercase/java-textbook");
    let failed = failed_server_tests(&result, true);
    assert!(
        failed.is_empty(),
        "failed {failed:?}:\n{}",
        summary(&result)
    );
}

#[test]
fn a_threaded_c_server_in_a_folder_is_built_with_its_helper_and_passes() {
    if !installed("cc") {
        return;
    }
    let result = grade_fixture("tcp-uppercase", "tcp-uppercase/c-threaded");
    assert_eq!(
        result.status,
        SubmissionStatus::Graded,
        "{}",
        summary(&result)
    );
    assert_eq!(server_command(&result), "./TCPServer");
    assert!(
        result
            .notes
            .iter()
            .any(|note| note.contains("folder `lab2/`")),
        "{:?}",
        result.notes
    );
    let failed = failed_server_tests(&result, false);
    assert!(
        failed.is_empty(),
        "failed {failed:?}:\n{}",
        summary(&result)
    );
}

/// Where Go is installed the Go sample is graded like the others; where it
/// is not, the result says that the machine lacks it, as a grader error
/// that charges nothing to the student.
#[test]
fn a_go_server_is_built_where_go_is_present_and_a_missing_go_is_the_graders_error() {
    let result = grade_fixture("udp-uppercase", "udp-uppercase/go-server");
    if installed("go") {
        assert_eq!(server_command(&result), "./UDPServer");
        let failed = failed_server_tests(&result, false);
        assert!(
            failed.is_empty(),
            "failed {failed:?}:\n{}",
            summary(&result)
        );
        return;
    }
    let SubmissionStatus::Error { message } = &result.status else {
        panic!("expected a grader error:\n{}", summary(&result));
    };
    assert!(message.contains("no `go`"), "{message}");
    assert!(message.contains("apt-get install golang-go"), "{message}");
    assert!(message.contains("not your code"), "{message}");
    assert_never_ran(&result, true);
}

#[test]
fn a_build_tool_missing_from_the_machine_is_reported_as_the_graders_environment() {
    let submission = tempfile::tempdir().unwrap();
    std::fs::write(
        submission.path().join("socklab.toml"),
        "build = \"socklab-no-such-compiler UDPServer.c\"\n[server]\ncommand = \"./UDPServer\"\n",
    )
    .unwrap();
    std::fs::write(
        submission.path().join("UDPServer.c"),
        "int main(void) { return 0; }\n",
    )
    .unwrap();
    let lab = support::lab("udp-uppercase");
    let result = grade_source(&lab, Source::Directory(submission.path().to_path_buf()));
    let SubmissionStatus::Error { message } = &result.status else {
        panic!("expected a grader error:\n{}", summary(&result));
    };
    assert!(
        message.contains("no `socklab-no-such-compiler`"),
        "{message}"
    );
    assert!(message.contains("not your code"), "{message}");
    assert_never_ran(&result, true);
}

#[test]
fn a_compile_error_is_the_students_and_shows_the_compiler() {
    if !installed("cc") {
        return;
    }
    let submission = tempfile::tempdir().unwrap();
    std::fs::write(
        submission.path().join("UDPServer.c"),
        "#include <sys/socket.h>\nint main(void) { return socket(AF_INET, SOCK_DGRAM, 0) }\n",
    )
    .unwrap();
    let lab = support::lab("udp-uppercase");
    let result = grade_source(&lab, Source::Directory(submission.path().to_path_buf()));
    let SubmissionStatus::NotRunnable { reason } = &result.status else {
        panic!("expected not runnable:\n{}", summary(&result));
    };
    assert!(
        reason.starts_with(
            "The build `cc -pthread -o UDPServer UDPServer.c` failed (exit status 1)."
        ),
        "{reason}"
    );
    assert!(reason.contains("error:"), "the compiler's words: {reason}");
    assert!(
        !reason.contains("/tmp/socklab-"),
        "no scratch paths: {reason}"
    );
    assert_never_ran(&result, false);
}

#[test]
fn a_submission_that_never_ran_has_one_finding_and_no_coding_hints() {
    let result = grade_fixture("udp-count-s", "udp-count-s/readme-only");
    let SubmissionStatus::NotRunnable { reason } = &result.status else {
        panic!("expected not runnable:\n{}", summary(&result));
    };
    assert!(reason.contains("Found: README.md"), "{reason}");
    assert!(
        reason.contains("command = \"python3 -u UDPServer.py\""),
        "{reason}"
    );
    assert_never_ran(&result, false);
}

/// Every test of a submission that never ran says so, and none carries a
/// hint about code; `error` tests when the grader's machine is at fault.
fn assert_never_ran(result: &SubmissionResult, graders_fault: bool) {
    assert_eq!(result.score(), 0);
    for test in &result.tests {
        let message = match (&test.outcome, graders_fault) {
            (Outcome::Error { message }, true) | (Outcome::Fail { message }, false) => message,
            (other, _) => panic!("test `{}`: {other:?}", test.id),
        };
        assert!(
            message.starts_with("Not run: "),
            "test `{}`: {message}",
            test.id
        );
        assert_eq!(test.hint, None, "test `{}` carries a coding hint", test.id);
    }
}
