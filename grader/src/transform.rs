//! The reference transforms a lab file can name, mapped to the reference
//! implementation's own functions so expectations and reference agree.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransformName {
    /// The whole message uppercased (udp-uppercase, tcp-uppercase).
    Uppercase,
    /// The number of letters s (udp-count-s).
    CountS,
    /// Each complete line uppercased, `\n` after each (tcp-lines).
    UppercaseLines,
}

impl TransformName {
    pub fn apply(self, sent: &[u8]) -> Vec<u8> {
        match self {
            TransformName::Uppercase => socklab::transform::uppercase(sent),
            TransformName::CountS => socklab::transform::count_s(sent),
            TransformName::UppercaseLines => socklab::transform::uppercase_lines(sent),
        }
    }

    /// How many leading bytes of `sent` the transform has consumed: line-based
    /// transforms leave an unfinished line pending for the next reply.
    pub fn consumed(self, sent: &[u8]) -> usize {
        match self {
            TransformName::Uppercase | TransformName::CountS => sent.len(),
            TransformName::UppercaseLines => {
                sent.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
            }
        }
    }

    /// What a correct client sends for this standard input: line-based labs
    /// send every line, the others the first line without its newline.
    pub fn client_message(self, stdin: &[u8]) -> Vec<u8> {
        match self {
            TransformName::UppercaseLines => {
                let mut message = stdin.to_vec();
                if !message.is_empty() && !message.ends_with(b"\n") {
                    message.push(b'\n');
                }
                message
            }
            TransformName::Uppercase | TransformName::CountS => {
                let line = stdin.split(|&b| b == b'\n').next().unwrap_or_default();
                line.strip_suffix(b"\r").unwrap_or(line).to_vec()
            }
        }
    }
}
