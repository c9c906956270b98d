//! The tests of the tcp-lines lab: run `cargo test` in this directory.
//!
//! Each `#[test]` below is one test of the lab's definition,
//! `fixtures/labs/tcp-lines.toml`, run against the programs built from
//! this crate by the same grader your instructor uses. A failing test prints
//! the grader's feedback: what it sent, what it expected, what came back, and a
//! hint. `cargo test one_line` runs just one of them.

grader::lab_tests! {
    lab: "tcp-lines",
    server: Some(env!("CARGO_BIN_EXE_tcp-lines-server")),
    client: Some(env!("CARGO_BIN_EXE_tcp-lines-client")),
    tests: [
        one_line,
        three_lines,
        split_line,
        coalesced_lines,
        concurrent_clients,
        half_close,
        long_line,
        reset_client,
        invalid_utf8,
        client_three_lines,
        client_many_lines,
        client_exits,
        client_no_server,
    ],
}
