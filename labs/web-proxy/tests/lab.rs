//! The tests of the web-proxy lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/web-proxy.toml`, graded against the programs built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what it sent, what it expected, what
//! came back, and a hint. `cargo test miss_forwarded` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "web-proxy",
    server: Some(env!("CARGO_BIN_EXE_web-proxy")),
    client: None,
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_miss_forwarded,
        t02_second_request,
        t03_cache_hit,
        t04_not_found,
        t05_binary_object,
        t06_large_response,
        t07_absolute_form,
        t08_two_clients,
        t09_origin_down,
    ],
}
