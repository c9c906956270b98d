//! The tests of the udp-uppercase lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/udp-uppercase.toml`, run against the programs built from
//! this crate by the same grader your instructor uses. A failing test prints
//! the grader's feedback: what it sent, what it expected, what came back, and a
//! hint. `cargo test one_sentence` runs just one of them.

grader::lab_tests! {
    lab: "udp-uppercase",
    server: Some(env!("CARGO_BIN_EXE_udp-uppercase-server")),
    client: Some(env!("CARGO_BIN_EXE_udp-uppercase-client")),
    tests: [
        one_sentence,
        several_sentences,
        two_clients,
        empty_datagram,
        non_ascii,
        largest_datagram,
        invalid_utf8,
        client_gone,
        client_one_sentence,
        client_late_reply,
        client_exits,
        client_no_server,
    ],
}
