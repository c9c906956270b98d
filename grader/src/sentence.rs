//! Seeded sentences, so a submission cannot pass by answering fixed strings.
//!
//! Each test draws from its own generator, seeded from the run's seed and the
//! test's id: the same seed gives the same sentences whatever order tests run
//! in, and the seed printed in the report reproduces a run exactly.

use serde::Deserialize;

/// The largest seed: 2^53 - 1, the largest integer every JSON reader
/// (`jq`, JavaScript's numbers) reads exactly, so that the seed printed in a
/// result regrades with the same sentences wherever it was read. `--seed`
/// refuses larger ones and fresh and per-submission seeds stay below it.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// Which words a seeded sentence is drawn from.
///
/// Plain ASCII is the default, so that a test about something else (keeping
/// serving, two clients, an empty datagram) cannot also fail a server that
/// only gets non-ASCII letters wrong: that bug is charged once, by the tests
/// that ask for `unicode`, whatever the seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alphabet {
    #[default]
    Ascii,
    /// ASCII words mixed with words such as `straße` and `café`.
    Unicode,
}

/// Lowercase ASCII words: every sentence of a test that is not about
/// non-ASCII text is drawn from these alone.
const ASCII_WORDS: &[&str] = &[
    "socket",
    "server",
    "client",
    "datagram",
    "stream",
    "port",
    "bind",
    "listen",
    "accept",
    "packet",
    "network",
    "layer",
    "router",
    "host",
    "address",
    "message",
    "reply",
    "sentence",
    "upper",
    "lower",
    "kurose",
    "ross",
    "internet",
    "protocol",
    "transport",
    "application",
    "welcome",
    "connection",
    "buffer",
    "sends",
    "receives",
    "loopback",
    "mississippi",
    "sassafras",
    "sessions",
    "whiskers",
];

/// Words whose uppercase is longer than they are or not ASCII, mixed in
/// when a test asks for the `unicode` alphabet.
const UNICODE_WORDS: &[&str] = &["straße", "café", "naïve", "señor", "façade", "über"];

/// The generator for one test.
pub fn generator(seed: u64, test_id: &str) -> fastrand::Rng {
    // The id's hash, mixed with the seed: stable across platforms and versions.
    fastrand::Rng::with_seed(seed ^ stable_hash(test_id))
}

/// FNV-1a of `text`: a fixed algorithm, unlike std's hasher, which may change
/// between Rust versions and would then change every run's sentences.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn words(rng: &mut fastrand::Rng, count: usize, alphabet: Alphabet) -> Vec<u8> {
    let pick = |rng: &mut fastrand::Rng| match alphabet {
        Alphabet::Ascii => ASCII_WORDS[rng.usize(..ASCII_WORDS.len())],
        Alphabet::Unicode => {
            let index = rng.usize(..ASCII_WORDS.len() + UNICODE_WORDS.len());
            ASCII_WORDS
                .get(index)
                .copied()
                .unwrap_or_else(|| UNICODE_WORDS[index - ASCII_WORDS.len()])
        }
    };
    let words: Vec<&str> = (0..count).map(|_| pick(rng)).collect();
    words.join(" ").into_bytes()
}

/// `size` bytes of lowercase letters and spaces.
pub fn filler(rng: &mut fastrand::Rng, size: usize) -> Vec<u8> {
    (0..size)
        .map(|_| {
            if rng.u8(..8) == 0 {
                b' '
            } else {
                rng.lowercase() as u8
            }
        })
        .collect()
}

/// A seed for a run that did not ask for one.
pub fn fresh_seed() -> u64 {
    fastrand::u64(..=MAX_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_test_give_the_same_sentence() {
        let first = words(&mut generator(7, "one-sentence"), 6, Alphabet::Ascii);
        let again = words(&mut generator(7, "one-sentence"), 6, Alphabet::Ascii);
        let other_test = words(&mut generator(7, "two-clients"), 6, Alphabet::Ascii);
        assert_eq!(first, again);
        assert_ne!(first, other_test);
        assert_eq!(first.iter().filter(|&&b| b == b' ').count(), 5);
    }

    #[test]
    fn ascii_sentences_are_ascii_whatever_the_seed() {
        for seed in 0..500 {
            let sentence = words(
                &mut generator(seed, "several-sentences"),
                12,
                Alphabet::Ascii,
            );
            assert!(sentence.is_ascii(), "seed {seed}: {sentence:?}");
        }
        // The unicode alphabet really mixes non-ASCII words in.
        let mixed = (0..50).any(|seed| {
            !words(&mut generator(seed, "non-ascii"), 12, Alphabet::Unicode).is_ascii()
        });
        assert!(mixed);
    }

    #[test]
    fn filler_is_lowercase_text_of_the_size_asked() {
        let bytes = filler(&mut generator(1, "x"), 2048);
        assert_eq!(bytes.len(), 2048);
        assert!(bytes.iter().all(|&b| b == b' ' || b.is_ascii_lowercase()));
    }
}
