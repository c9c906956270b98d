//! The tests of the tcp-lines lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/tcp-lines.toml`, graded against the programs built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what it sent, what it expected, what
//! came back, and a hint. `cargo test one_line` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "tcp-lines",
    server: Some(env!("CARGO_BIN_EXE_tcp-lines-server")),
    client: Some(env!("CARGO_BIN_EXE_tcp-lines-client")),
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_one_line,
        t02_three_lines,
        t03_split_line,
        t04_coalesced_lines,
        t05_concurrent_clients,
        t06_half_close,
        t07_long_line,
        t08_reset_client,
        t09_invalid_utf8,
        t10_client_three_lines,
        t11_client_many_lines,
        t12_client_exits,
        t13_client_no_server,
    ],
}
