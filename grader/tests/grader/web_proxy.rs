//! The web-proxy lab's two-sided tests: the grader is the browser on the
//! proxy's port and the origin the proxy fetches from, in one test. What a
//! failed cache test records must let a learner see both sides and the
//! origin's hit counter; and the reference passes in either tier, where the
//! origin is a host name on port 80 (namespace) or `127.0.0.1:PORT`.

use grader::cell::IsolationRequest;
use grader::outcome::{SubmissionResult, TestResult, TranscriptEvent};
use grader::run::grade;
use grader::submission::Source;

use crate::support::{self, summary};

fn sample(name: &str) -> SubmissionResult {
    support::grade_fixture("web-proxy", &format!("web-proxy/{name}"))
}

fn test<'r>(result: &'r SubmissionResult, id: &str) -> &'r TestResult {
    result
        .tests
        .iter()
        .find(|test| test.id == id)
        .unwrap_or_else(|| panic!("no test {id}:\n{}", summary(result)))
}

/// What the test's transcript holds on `channel`: bytes the grader sent,
/// bytes it received, and its notes, each joined.
fn channel(test: &TestResult, channel: &str) -> (Vec<u8>, Vec<u8>, String) {
    let (mut sent, mut received, mut notes) = (Vec::new(), Vec::new(), String::new());
    for entry in test
        .transcript
        .iter()
        .filter(|entry| entry.channel == channel)
    {
        match &entry.event {
            TranscriptEvent::Sent(bytes) => sent.extend_from_slice(bytes),
            TranscriptEvent::Received(bytes) => received.extend_from_slice(bytes),
            TranscriptEvent::Note(note) => {
                notes.push_str(note);
                notes.push('\n');
            }
        }
    }
    (sent, received, notes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A cache test failed either way (the origin asked again, or a wrong copy
/// served) shows the origin's hit count, what the origin received and sent,
/// and what the browser sent and got back, on both connections.
#[test]
fn a_failed_cache_test_shows_both_sides_and_the_hit_count() {
    for (name, hits) in [("hits-misses-swapped", 2), ("text-mode-cache", 1)] {
        let result = sample(name);
        let cache = test(&result, "cache-hit");
        assert!(!cache.outcome.is_pass(), "{name}:\n{}", summary(&result));
        let (origin_sent, origin_received, origin_notes) = channel(cache, "origin");
        assert!(
            contains(
                &origin_received,
                b"GET /HelloWorld.html?cached HTTP/1.0\r\n"
            ),
            "{name}: the origin's side: {}",
            String::from_utf8_lossy(&origin_received)
        );
        assert!(origin_sent.starts_with(b"HTTP/1.1 200 OK\r\n"), "{name}");
        let counted = format!(
            "/HelloWorld.html?cached ({hits} request{})",
            if hits == 1 { "" } else { "s" }
        );
        assert!(
            origin_notes.contains(&format!(
                "the origin's hit counts at the end of the test: {counted}"
            )) || origin_notes.contains(&format!("the origin's hit counts so far: {counted}")),
            "{name}: the origin's notes:\n{origin_notes}"
        );
        for socket in ["miss", "hit"] {
            let (sent, received, _) = channel(cache, socket);
            assert!(
                sent.starts_with(b"GET /gaia.cs.umass.edu/HelloWorld.html?cached ")
                    || sent.starts_with(b"GET /127.0.0.1:"),
                "{name}: the browser's side on `{socket}`: {}",
                String::from_utf8_lossy(&sent)
            );
            assert!(
                received.starts_with(b"HTTP/1.1 200 OK"),
                "{name}: `{socket}`"
            );
        }
        if hits == 2 {
            let message = cache.outcome.message().unwrap_or("");
            assert!(
                message.contains("asked for /HelloWorld.html?cached 2 times"),
                "{message}"
            );
        }
    }
}

/// In the process tier nothing can give the proxy a network of its own: the
/// origin is on a port of its own, named in the request as `127.0.0.1:PORT`,
/// and the reference still passes every test.
#[test]
fn the_reference_passes_in_the_process_tier_with_the_origin_named_by_port() {
    let lab = support::lab("web-proxy");
    let result = grade(
        &lab,
        &Source::Reference,
        &support::options(IsolationRequest::Process),
    )
    .expect("grading runs");
    assert!(
        result.tests.iter().all(|test| test.outcome.is_pass()),
        "{}",
        summary(&result)
    );
    let (sent, _, _) = channel(test(&result, "miss-forwarded"), "main");
    assert!(
        sent.starts_with(b"GET /127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
}

/// Where namespaces are allowed the origin is on port 80 of every address and
/// the requests name it as the web would, so a proxy that connects to a host
/// name on port 80, as the handout's does, reaches it.
#[test]
fn in_the_namespace_tier_the_origin_is_a_host_name_on_port_80() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses namespace cells");
        return;
    }
    let lab = support::lab("web-proxy");
    let result = grade(
        &lab,
        &Source::Reference,
        &support::options(IsolationRequest::Namespace),
    )
    .expect("grading runs");
    assert!(
        result.tests.iter().all(|test| test.outcome.is_pass()),
        "{}",
        summary(&result)
    );
    let miss = test(&result, "miss-forwarded");
    let (sent, _, _) = channel(miss, "main");
    assert!(
        sent.starts_with(b"GET /gaia.cs.umass.edu/HelloWorld.html?miss "),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    let (_, received, notes) = channel(miss, "origin");
    assert!(notes.contains("listens on 0.0.0.0:80"), "{notes}");
    assert!(contains(&received, b"Host: gaia.cs.umass.edu\r\n"));
}
