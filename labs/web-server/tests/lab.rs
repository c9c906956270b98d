//! The tests of the web-server lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/web-server.toml`, graded against the programs built from this
//! crate by the same grader your instructor uses (see `harness/`). They are
//! numbered in the handout's order: fix the first failure first. A failing
//! test prints the grader's feedback: what it sent, what it expected, what
//! came back, and a hint. `cargo test hello_page` runs just that one.

#[macro_use]
mod harness;

use harness::LabCrate;

static LAB: LabCrate = LabCrate {
    lab: "web-server",
    server: Some(env!("CARGO_BIN_EXE_web-server")),
    client: None,
    directory: env!("CARGO_MANIFEST_DIR"),
};

lab_crate_tests! {
    LAB,
    tests: [
        t01_hello_page,
        t02_missing_file,
        t03_second_request,
        t04_empty_connection,
        t05_split_request,
        t06_binary_file,
        t07_large_file,
        t08_length_in_bytes,
        t09_client_leaves,
        t10_http_1_0,
        t11_outside_the_folder,
        t12_idle_neighbour,
    ],
}
