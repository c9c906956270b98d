//! The tests of the udp-count-s lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/udp-count-s.toml`, graded against the programs built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what it sent, what it expected, what
//! came back, and a hint. `cargo test mississippi` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "udp-count-s",
    server: Some(env!("CARGO_BIN_EXE_udp-count-s-server")),
    client: None,
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_mississippi,
        t02_both_cases,
        t03_empty_datagram,
        t04_long_sentence,
        t05_several_and_two_clients,
        t06_digits_only,
        t07_largest_datagram,
        t08_invalid_utf8,
    ],
}
