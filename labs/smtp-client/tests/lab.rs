//! The tests of the smtp-client lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/smtp-client.toml`, graded against the program built from
//! this crate by the same grader your instructor uses (see `harness/`). The
//! grader plays a strict mail server and tells what it saw of the dialogue.
//! They are numbered in the handout's order: fix the first failure first.
//! `cargo test delivers` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "smtp-client",
    server: None,
    client: Some(env!("CARGO_BIN_EXE_smtp-client")),
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_waits_for_replies,
        t02_delivers,
        t03_crlf_lines,
        t04_quits,
        t05_own_dialogue,
        t06_multi_line_reply,
        t07_slow_server,
        t08_refused_recipient,
    ],
}
