//! The udp-pinger lab's client graded where it sends: a client that writes
//! a remote address into its code is graded as written in the namespace
//! tier (the cell's network leads every address to the grader's server),
//! and told why not in the process tier, with the address its source names.

use grader::cell::IsolationRequest;
use grader::outcome::{TestResult, TranscriptEvent};

use crate::support;

/// The sample that pings 10.0.0.1:12000 whatever it is told.
const HARD_CODED_IP: &str = "udp-pinger/hard-coded-remote-ip";

fn grade_ends(isolation: IsolationRequest) -> TestResult {
    support::grade_one_test("udp-pinger", HARD_CODED_IP, "ends", isolation)
}

#[test]
fn a_pinger_that_hard_codes_a_remote_address_is_graded_as_written_in_a_namespace() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return;
    }
    let test = grade_ends(IsolationRequest::Namespace);
    assert!(test.outcome.is_pass(), "{:?} {:?}", test.outcome, test.hint);
    let noted = test.transcript.iter().any(|entry| {
        matches!(&entry.event, TranscriptEvent::Note(note)
            if note.starts_with("the client sent to 10.0.0.1:12000"))
    });
    assert!(noted, "{:#?}", test.transcript);
}

#[test]
fn a_pinger_that_hard_codes_a_remote_address_hears_why_the_process_tier_cannot_grade_it() {
    let test = grade_ends(IsolationRequest::Process);
    assert!(!test.outcome.is_pass(), "{:?}", test.outcome);
    let hint = test.hint.expect("a hint").text;
    assert!(
        hint.starts_with(
            "Your client's source writes in 10.0.0.1, and nothing reached the grader's server"
        ),
        "{hint}"
    );
    assert!(hint.contains("(the process tier)"), "{hint}");
    assert!(hint.contains("the namespace tier"), "{hint}");
}
