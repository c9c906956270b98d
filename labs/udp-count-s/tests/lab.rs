//! The tests of the udp-count-s lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/udp-count-s.toml`, run against the programs built from
//! this crate by the same grader your instructor uses. A failing test prints
//! the grader's feedback: what it sent, what it expected, what came back, and a
//! hint. `cargo test mississippi` runs just one of them.

grader::lab_tests! {
    lab: "udp-count-s",
    server: Some(env!("CARGO_BIN_EXE_udp-count-s-server")),
    client: None,
    tests: [
        mississippi,
        both_cases,
        empty_datagram,
        long_sentence,
        several_and_two_clients,
        digits_only,
        largest_datagram,
        invalid_utf8,
    ],
}
