//! The pure transforms behind every lab: what a correct server does to the bytes
//! it receives, with no sockets involved.
//!
//! The grader computes expected replies with these same functions, so a test's
//! expectation and the reference server can never disagree.

/// Uppercases text the way Python's `str.upper` and Rust's `str::to_uppercase` do:
/// Unicode-aware, so `straße` becomes `STRASSE` (one letter can become two).
///
/// Sockets carry bytes, not text, and a datagram may hold bytes that are not
/// UTF-8. Those bytes are passed through unchanged rather than rejected: a server
/// must keep serving whatever a client sends, and the valid parts around a bad
/// byte still get uppercased.
pub fn uppercase(bytes: &[u8]) -> Vec<u8> {
    let mut reply = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        reply.extend_from_slice(chunk.valid().to_uppercase().as_bytes());
        reply.extend_from_slice(chunk.invalid());
    }
    reply
}

/// Counts the letter s, in either case, and writes the count as decimal digits
/// and nothing else (`mississippi` gives `4`, an empty message gives `0`).
///
/// Counting bytes is exact here: in UTF-8 the bytes `s` and `S` only ever stand
/// for those two ASCII letters, never for part of another character.
pub fn count_s(bytes: &[u8]) -> Vec<u8> {
    let count = bytes.iter().filter(|&&b| b == b's' || b == b'S').count();
    count.to_string().into_bytes()
}

/// Uppercases every complete line of a `tcp-lines` conversation and ends each
/// reply with `\n`. Bytes after the last newline are an unfinished line and get
/// no reply yet, exactly as a correct server would behave.
pub fn uppercase_lines(bytes: &[u8]) -> Vec<u8> {
    let mut reply = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if let Some(text) = line.strip_suffix(b"\n") {
            reply.extend_from_slice(&uppercase(text));
            reply.push(b'\n');
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppercase_follows_unicode_rules() {
        assert_eq!(uppercase(b"hello world"), b"HELLO WORLD");
        assert_eq!(uppercase("straße".as_bytes()), "STRASSE".as_bytes());
        assert_eq!(uppercase("ǆemal ﬁx".as_bytes()), "ǄEMAL FIX".as_bytes());
        assert_eq!(uppercase("ünïcödé".as_bytes()), "ÜNÏCÖDÉ".as_bytes());
        assert_eq!(uppercase(b""), b"");
    }

    #[test]
    fn uppercase_passes_invalid_utf8_through() {
        assert_eq!(uppercase(b"ab\xffcd"), b"AB\xffCD");
        assert_eq!(uppercase(b"\xc3"), b"\xc3");
        assert_eq!(uppercase(b"x\xe2\x82"), b"X\xe2\x82");
    }

    #[test]
    fn count_s_counts_both_cases() {
        assert_eq!(count_s(b"mississippi"), b"4");
        assert_eq!(count_s(b""), b"0");
        assert_eq!(count_s(b"Sassafras Sessions"), b"8");
        assert_eq!(count_s(b"stra\xc3\x9fe \xff s"), b"2");
    }

    #[test]
    fn uppercase_lines_answers_complete_lines_only() {
        assert_eq!(uppercase_lines(b"one\ntwo\n"), b"ONE\nTWO\n");
        assert_eq!(uppercase_lines(b"one\ntw"), b"ONE\n");
        assert_eq!(uppercase_lines(b"\n"), b"\n");
        assert_eq!(uppercase_lines(b""), b"");
    }
}
