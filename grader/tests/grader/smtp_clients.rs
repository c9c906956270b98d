//! The smtp-client lab beyond its samples' records: a client that hard-codes
//! smtp.gmail.com:587 is graded as written in the namespace tier, and told
//! why not in the process tier.

use grader::cell::IsolationRequest;
use grader::outcome::TestResult;

use crate::support;

/// The sample that connects to ("smtp.gmail.com", 587) whatever it is told.
const HARD_CODED_GMAIL: &str = "smtp-client/hard-coded-gmail";

fn grade_delivers(isolation: IsolationRequest) -> TestResult {
    support::grade_one_test("smtp-client", HARD_CODED_GMAIL, "delivers", isolation)
}

#[test]
fn a_client_hard_coding_gmail_is_graded_as_written_in_a_namespace_cell() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return;
    }
    let test = grade_delivers(IsolationRequest::Namespace);
    assert!(test.outcome.is_pass(), "{:?} {:?}", test.outcome, test.hint);
    let notes = support::transcript_notes(&test);
    assert!(
        notes
            .iter()
            .any(|note| note.contains("looked up smtp.gmail.com")),
        "{notes:#?}"
    );
    assert!(
        notes.iter().any(|note| note.contains(":587, not to the")),
        "{notes:#?}"
    );
    assert!(
        notes.iter().any(|note| note.starts_with("mail delivered")),
        "{notes:#?}"
    );
}

#[test]
fn a_client_hard_coding_gmail_hears_why_the_process_tier_cannot_grade_it() {
    let test = grade_delivers(IsolationRequest::Process);
    assert!(!test.outcome.is_pass(), "{:?}", test.outcome);
    let hint = test.hint.expect("a hint").text;
    assert!(hint.contains("could not look up the host name"), "{hint}");
    assert!(hint.contains("the process tier"), "{hint}");
    assert!(hint.contains("the namespace tier can"), "{hint}");
}
