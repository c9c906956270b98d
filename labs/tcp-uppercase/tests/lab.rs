//! The tests of the tcp-uppercase lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/tcp-uppercase.toml`, run against the programs built from
//! this crate by the same grader your instructor uses. A failing test prints
//! the grader's feedback: what it sent, what it expected, what came back, and a
//! hint. `cargo test one_client` runs just one of them.

grader::lab_tests! {
    lab: "tcp-uppercase",
    server: Some(env!("CARGO_BIN_EXE_tcp-uppercase-server")),
    client: Some(env!("CARGO_BIN_EXE_tcp-uppercase-client")),
    tests: [
        one_client,
        several_clients,
        non_ascii,
        silent_client,
        reset_client,
        invalid_utf8,
        client_one_sentence,
        client_late_reply,
        client_exits,
        client_no_server,
    ],
}
