//! Turning bytes a submission produced into text that is safe to show anywhere:
//! terminals, JSON, XML, CI logs.
//!
//! Valid UTF-8 stays readable (`straße` is shown as is); control characters and
//! bytes that are not UTF-8 become escapes such as `\n` and `\xff`, so a student
//! cannot inject terminal sequences or CI workflow commands on a line of their
//! own. Long payloads keep their head and tail around a visible marker.

use std::fmt::Write;

/// The longest payload shown in full in a message.
pub const SHOWN_BYTES: usize = 160;

/// The longest payload shown in full in a transcript.
pub const TRANSCRIPT_BYTES: usize = 1024;

/// Escapes `bytes`, keeping at most `limit` bytes of the original: the first
/// and last halves, with a marker saying how many bytes were cut.
pub fn escape_shortened(bytes: &[u8], limit: usize) -> String {
    if bytes.len() <= limit {
        return escape(bytes);
    }
    let keep = limit / 2;
    let cut = bytes.len() - 2 * keep;
    format!(
        "{}…[{cut} bytes cut]…{}",
        escape(&bytes[..keep]),
        escape(&bytes[bytes.len() - keep..])
    )
}

/// Escapes all of `bytes`.
pub fn escape(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                '\\' => text.push_str("\\\\"),
                c if c.is_control() || is_invisible_format(c) || is_noncharacter(c) => {
                    let _ = write!(text, "\\u{{{:x}}}", c as u32);
                }
                c => text.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}

/// Escapes a one-line field that comes from a submission or its manifest (a
/// directory name, a manifest's command): every control character, line
/// breaks included, becomes an escape, and a field that starts a line in a
/// log cannot make it a CI workflow command.
pub fn escape_field(text: &str) -> String {
    defuse_workflow_commands(&escape(text.as_bytes()))
}

/// [`escape_field`], keeping at most `limit` bytes (see [`escape_shortened`]).
pub fn escape_field_shortened(bytes: &[u8], limit: usize) -> String {
    defuse_workflow_commands(&escape_shortened(bytes, limit))
}

/// Makes text the grader composed safe to show anywhere, whatever it quotes
/// (a manifest's TOML error, a note naming a file, a message holding a
/// reply): line breaks and tabs stay, every other control character,
/// invisible formatting character and noncharacter becomes a visible
/// `\u{..}` escape, and no line is a CI workflow command. Backslashes are left
/// alone, so text whose student bytes were escaped already reads the same.
pub fn escape_text(text: &str) -> String {
    let mut visible = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = (c.is_control() && !matches!(c, '\n' | '\t'))
            || is_invisible_format(c)
            || is_noncharacter(c);
        if hidden {
            let _ = write!(visible, "\\u{{{:x}}}", c as u32);
        } else {
            visible.push(c);
        }
    }
    defuse_workflow_commands(&visible)
}

/// Characters that change how text around them is displayed (bidirectional
/// overrides, zero-width joiners) are escaped too, so what a report shows is
/// what was sent.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Noncharacters are not for interchange, and XML 1.0 forbids U+FFFE and
/// U+FFFF even as character references; escaping them keeps every report a
/// well-formed document whatever bytes a submission sent.
fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xfdd0..=0xfdef).contains(&code) || code & 0xfffe == 0xfffe
}

/// Makes text safe as HTML text and as a quoted attribute value: the five
/// characters HTML gives meaning to become entities, and control and
/// direction-changing characters (other than newline and tab) are shown as
/// `\u{..}` escapes, as [`escape`] shows them. Student bytes reach a page
/// through [`escape`] first and this second, so the page shows what was sent
/// and no byte of it is markup.
pub fn html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\n' | '\t' => escaped.push(c),
            c if c.is_control() || is_invisible_format(c) || is_noncharacter(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// Escapes text a submission printed, line by line: newlines stay real line
/// breaks (so a stderr tail reads as lines) but every line is escaped, and
/// none can act as a CI workflow command where a report is printed in a log.
pub fn escape_lines(bytes: &[u8]) -> String {
    let lines = bytes
        .split(|&b| b == b'\n')
        .map(escape)
        .collect::<Vec<_>>()
        .join("\n");
    defuse_workflow_commands(&lines)
}

/// Makes sure no line of `text` is a workflow command when printed in an
/// Actions log: a line (ended by `\n` or `\r`) whose first non-blank
/// characters are `::` gets its first colon written as the escape `\u{3a}`,
/// and every `##[` becomes `#\u{23}[`. Both stay readable and say what was
/// there.
pub fn defuse_workflow_commands(text: &str) -> String {
    let text = text.replace("##[", "#\\u{23}[");
    let mut defused = String::with_capacity(text.len());
    for line in text.split_inclusive(['\n', '\r']) {
        let blanks = line.len() - line.trim_start().len();
        if line[blanks..].starts_with("::") {
            defused.push_str(&line[..blanks]);
            defused.push_str("\\u{3a}");
            defused.push_str(&line[blanks + 1..]);
        } else {
            defused.push_str(line);
        }
    }
    defused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_text_stays_readable() {
        assert_eq!(
            escape("HELLO STRASSE straße".as_bytes()),
            "HELLO STRASSE straße"
        );
    }

    #[test]
    fn control_and_invalid_bytes_are_escaped() {
        assert_eq!(escape(b"a\nb\r\t\\"), "a\\nb\\r\\t\\\\");
        assert_eq!(escape(b"\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape(b"\xff\xfehi\xc3"), "\\xff\\xfehi\\xc3");
        assert_eq!(escape("a\u{202e}b".as_bytes()), "a\\u{202e}b");
    }

    #[test]
    fn noncharacters_are_escaped_so_xml_can_hold_them() {
        assert_eq!(
            escape("a\u{fffe}b\u{ffff}c\u{fdd0}\u{10ffff}".as_bytes()),
            "a\\u{fffe}b\\u{ffff}c\\u{fdd0}\\u{10ffff}"
        );
        assert_eq!(escape("\u{fffd}".as_bytes()), "\u{fffd}");
    }

    #[test]
    fn long_payloads_keep_head_and_tail() {
        let bytes = [b"HEAD".as_slice(), &[b'x'; 100], b"TAIL"].concat();
        let shown = escape_shortened(&bytes, 8);
        assert_eq!(shown, "HEAD…[100 bytes cut]…TAIL");
        assert_eq!(escape_shortened(b"short", 8), "short");
    }

    #[test]
    fn printed_lines_cannot_be_workflow_commands() {
        let defused = escape_lines(b"ok\n  ::error::fake\nsee ##[group]x");
        assert_eq!(defused, "ok\n  \\u{3a}:error::fake\nsee #\\u{23}[group]x");
    }

    #[test]
    fn fields_are_one_line_and_never_commands() {
        assert_eq!(
            escape_field("python3 x.py\n::error::forged\x1b]0;t\x07"),
            "python3 x.py\\n::error::forged\\u{1b}]0;t\\u{7}"
        );
        assert_eq!(escape_field("::warning::dir"), "\\u{3a}:warning::dir");
        assert_eq!(escape_field("alice"), "alice");
        assert_eq!(escape_field_shortened(b"::a", 60), "\\u{3a}:a");
    }

    #[test]
    fn composed_text_keeps_its_lines_but_no_controls_or_commands() {
        assert_eq!(
            escape_text("socklab.toml, line 2: unknown field `a\n::error::x\r\x1b[2J`\\n"),
            "socklab.toml, line 2: unknown field `a\n\\u{3a}:error::x\\u{d}\\u{1b}[2J`\\n"
        );
        assert_eq!(escape_text("tab\tand \u{202e}"), "tab\tand \\u{202e}");
    }

    #[test]
    fn html_holds_no_markup_and_no_control_characters() {
        assert_eq!(
            html("<script>\"'&\u{1b}[31m\r\n\u{202e}ok"),
            "&lt;script&gt;&quot;&#39;&amp;\\u{1b}[31m\\u{d}\n\\u{202e}ok"
        );
        assert_eq!(html("straße"), "straße");
    }

    #[test]
    fn printed_lines_keep_their_breaks() {
        assert_eq!(escape_lines(b"one\ntwo\x1b\n"), "one\ntwo\\u{1b}\n");
    }
}
