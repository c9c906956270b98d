//! The tests of the udp-uppercase lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/udp-uppercase.toml`, graded against the programs built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what it sent, what it expected, what
//! came back, and a hint. `cargo test one_sentence` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "udp-uppercase",
    server: Some(env!("CARGO_BIN_EXE_udp-uppercase-server")),
    client: Some(env!("CARGO_BIN_EXE_udp-uppercase-client")),
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_one_sentence,
        t02_several_sentences,
        t03_two_clients,
        t04_empty_datagram,
        t05_non_ascii,
        t06_largest_datagram,
        t07_invalid_utf8,
        t08_client_gone,
        t09_client_one_sentence,
        t10_client_late_reply,
        t11_client_exits,
        t12_client_no_server,
    ],
}
