//! The tests of the tcp-uppercase lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/tcp-uppercase.toml`, graded against the programs built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what it sent, what it expected, what
//! came back, and a hint. `cargo test one_client` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "tcp-uppercase",
    server: Some(env!("CARGO_BIN_EXE_tcp-uppercase-server")),
    client: Some(env!("CARGO_BIN_EXE_tcp-uppercase-client")),
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_one_client,
        t02_several_clients,
        t03_non_ascii,
        t04_silent_client,
        t05_reset_client,
        t06_invalid_utf8,
        t07_client_one_sentence,
        t08_client_late_reply,
        t09_client_exits,
        t10_client_no_server,
    ],
}
