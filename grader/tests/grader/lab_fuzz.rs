//! No lab file can make the grader panic or abort: the built-in labs,
//! mutated a few thousand times from a fixed seed (extreme numbers, deleted,
//! doubled and swapped lines, stray bytes, cut text, deep nesting, bytes that
//! are not UTF-8), must each load or be refused with a `LabError`, and a lab
//! that loads must give a score total and a digest.

use std::time::Instant;

use crate::support::repo;

/// The fixed seed of the mutations; printed, so a failure can be replayed.
const FUZZ_SEED: u64 = 0x5eed_1ab5;
/// Mutated files per built-in lab.
const MUTATIONS: usize = 500;

const EXTREMES: [&str; 12] = [
    "0",
    "-1",
    "1",
    "65536",
    "4294967296",
    "1000000000000",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "nan",
];

const STRAY: [&str; 12] = [
    "[",
    "]",
    "{",
    "}",
    "\"",
    "=",
    "\n",
    "#",
    ",",
    "[[test]]\n",
    "\\u0000",
    "'''",
];

fn mutate(rng: &mut fastrand::Rng, text: &str) -> Vec<u8> {
    let lines: Vec<&str> = text.lines().collect();
    let pick_line = |rng: &mut fastrand::Rng| rng.usize(..lines.len());
    match rng.u8(..8) {
        // An integer literal becomes an extreme value.
        0 | 1 => {
            let numbers: Vec<(usize, usize)> = text
                .char_indices()
                .filter(|(at, c)| {
                    c.is_ascii_digit()
                        && text[..*at]
                            .chars()
                            .last()
                            .is_none_or(|before| !before.is_ascii_alphanumeric())
                })
                .map(|(at, _)| {
                    let end = text[at..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(text.len(), |len| at + len);
                    (at, end)
                })
                .collect();
            if numbers.is_empty() {
                return text.as_bytes().to_vec();
            }
            let (start, end) = numbers[rng.usize(..numbers.len())];
            let extreme = EXTREMES[rng.usize(..EXTREMES.len())];
            format!("{}{extreme}{}", &text[..start], &text[end..]).into_bytes()
        }
        2 => {
            let mut lines = lines.clone();
            lines.remove(pick_line(rng));
            lines.join("\n").into_bytes()
        }
        3 => {
            let mut lines = lines.clone();
            let at = pick_line(rng);
            lines.insert(at, lines[at]);
            lines.join("\n").into_bytes()
        }
        4 => {
            let mut lines = lines.clone();
            let (a, b) = (pick_line(rng), pick_line(rng));
            lines.swap(a, b);
            lines.join("\n").into_bytes()
        }
        5 => {
            let mut bytes = text.as_bytes().to_vec();
            let at = rng.usize(..=bytes.len());
            let stray = STRAY[rng.usize(..STRAY.len())];
            bytes.splice(at..at, stray.bytes());
            bytes
        }
        6 => {
            let mut bytes = text.as_bytes().to_vec();
            match rng.u8(..3) {
                0 => bytes.truncate(rng.usize(..=bytes.len())),
                1 => {
                    // A byte that is not UTF-8 somewhere.
                    let at = rng.usize(..bytes.len());
                    bytes[at] = [0xff, 0xc3, 0x80, 0xfe][rng.usize(..4)];
                }
                _ => {
                    let depth = rng.usize(1..5_000);
                    let nested = format!("\nx = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
                    bytes.extend_from_slice(nested.as_bytes());
                }
            }
            bytes
        }
        _ => {
            // A test's table, repeated: ids clash, points add up.
            let copies = rng.usize(1..50);
            let start = text.find("[[test]]").unwrap_or(0);
            let block = &text[start..];
            let end = block[8..]
                .find("[[test]]")
                .map_or(block.len(), |len| len + 8);
            let mut grown = text.to_string();
            for copy in 0..copies {
                grown.push('\n');
                grown.push_str(&block[..end].replacen("id = \"", &format!("id = \"c{copy}-"), 1));
            }
            grown.into_bytes()
        }
    }
}

#[test]
fn mutated_lab_files_load_or_are_refused_but_never_panic() {
    eprintln!("lab fuzz: seed {FUZZ_SEED:#x}, {MUTATIONS} mutations per lab");
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(FUZZ_SEED);
    let scratch = tempfile::tempdir().unwrap();
    let (mut loaded, mut refused) = (0usize, 0usize);
    for lab in crate::support::lab_names() {
        let original =
            std::fs::read_to_string(repo().join(format!("fixtures/labs/{lab}.toml"))).unwrap();
        for iteration in 0..MUTATIONS {
            let mut bytes = mutate(&mut rng, &original);
            // Some mutations are mutated again.
            if rng.bool() {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                bytes = mutate(&mut rng, &text);
            }
            let path = scratch.path().join(format!("{lab}-{iteration}.toml"));
            let outcome = std::panic::catch_unwind(|| {
                let result = match std::str::from_utf8(&bytes) {
                    Ok(text) => grader::lab::load_str(text, &path.display().to_string()),
                    Err(_) => {
                        std::fs::write(&path, &bytes).unwrap();
                        grader::lab::load_file(&path)
                    }
                };
                result.map(|lab| (lab.max_score(), lab.digest.len(), lab.tests.len()))
            });
            match outcome {
                Ok(Ok(_)) => loaded += 1,
                Ok(Err(err)) => {
                    assert!(!err.to_string().is_empty());
                    refused += 1;
                }
                Err(_) => {
                    let kept = scratch.path().join("panicked.toml");
                    std::fs::write(&kept, &bytes).unwrap();
                    let _ =
                        std::fs::copy(&kept, std::env::temp_dir().join("socklab-fuzz-panic.toml"));
                    panic!(
                        "lab fuzz (seed {FUZZ_SEED:#x}, {lab}, mutation {iteration}) panicked; the file is kept as {}",
                        std::env::temp_dir()
                            .join("socklab-fuzz-panic.toml")
                            .display()
                    );
                }
            }
        }
    }
    eprintln!(
        "lab fuzz: {loaded} loaded, {refused} refused, none panicked, in {:?}",
        started.elapsed()
    );
    assert!(
        loaded > 0 && refused > 0,
        "the mutations reach both outcomes"
    );
}
