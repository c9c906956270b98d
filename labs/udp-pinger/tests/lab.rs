//! The tests of the udp-pinger lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/udp-pinger.toml`, graded against the program built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what its server did with each ping,
//! what your client printed, and a hint. `cargo test rtt` runs just that one.
//! Each test runs your client once (about four seconds).

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "udp-pinger",
    server: None,
    client: Some(env!("CARGO_BIN_EXE_udp-pinger-client")),
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_ends,
        t02_pings,
        t03_replies,
        t04_rtt,
        t05_pacing,
        t06_one_second,
        t07_late_reply,
        t08_one_socket,
        t09_summary,
    ],
}
