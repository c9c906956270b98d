//! What a student is told when the conventions found nothing to run (or not
//! every part): the files that are there, what is wrong with the ones that
//! nearly qualified, a rename when one is close to a conventional name, and
//! the `socklab.toml` that would run them.

use std::fmt::Write as _;
use std::path::Path;

use super::language::{self, Language};
use super::{Choice, SourceFile, names_role};
use crate::escape::escape;
use crate::lab::{Lab, Part};

/// How many of a submission's files a message names.
const LISTED: usize = 6;
/// How long a listed path may be before its start is cut.
const PATH_CHARS: usize = 40;

/// What the conventions saw in a submission.
pub(crate) struct Findings<'a> {
    pub lab: &'a Lab,
    /// The scratch copy of the submission.
    pub top: &'a Path,
    /// The folder inside it where the files were looked for, if not the top.
    pub nested: Option<&'a Path>,
    /// The source files in that folder.
    pub files: &'a [SourceFile],
    pub choices: &'a [(Part, Choice)],
}

/// A program the student could run for one part, found or guessed.
struct Suggestion<'a> {
    part: Part,
    file: &'a SourceFile,
    /// The conventional name it is close to, when a rename would do.
    rename_to: Option<String>,
}

impl Findings<'_> {
    /// The reason a submission with nothing to run is not runnable.
    pub fn not_runnable(&self) -> String {
        let parts: Vec<&str> = self.choices.iter().map(|(part, _)| part.as_str()).collect();
        let mut text = format!(
            "There is nothing to run: no socklab.toml, and no file is a {} this lab recognises.\n",
            parts.join(" or ")
        );
        let _ = writeln!(text, "{}", self.found());
        let _ = writeln!(text, "{}", self.looked_for());
        for line in self.problems() {
            let _ = writeln!(text, "{line}");
        }
        let suggestions = self.suggestions();
        if suggestions.is_empty() {
            if self.problems().is_empty() {
                let example = self.example();
                let _ = write!(
                    text,
                    "Name your files as above, or put a socklab.toml beside them that says how to run them, for example:\n{example}"
                );
            }
        } else {
            let renames: Vec<String> = suggestions
                .iter()
                .filter_map(|suggestion| {
                    let to = suggestion.rename_to.as_ref()?;
                    Some(format!(
                        "rename {} to {to}.{}",
                        escape(suggestion.file.name.as_bytes()),
                        extension_of(&suggestion.file.name)
                    ))
                })
                .collect();
            let lead = if renames.is_empty() {
                "To run them, put this socklab.toml beside your files:".to_string()
            } else {
                let mut renames = renames.join(", and ");
                renames[..1].make_ascii_uppercase();
                format!("{renames}; or put this socklab.toml beside your files:")
            };
            let _ = write!(text, "{lead}\n{}", self.manifest(&suggestions));
        }
        text.trim_end().to_string()
    }

    /// Notes for the parts that were not run when another part was.
    pub fn missing_parts(&self) -> Vec<String> {
        self.choices
            .iter()
            .filter_map(|(part, choice)| {
                let role = part.as_str();
                let names = self.lab.conventions.names(*part);
                let why = match choice {
                    Choice::Planned(_) | Choice::Chosen(_) => return None,
                    Choice::Ambiguous(files) => {
                        format!("several files could be your {role}: {}", listed(files))
                    }
                    Choice::Missing => self.not_programs(*part).first()?.clone(),
                };
                Some(format!(
                    "No {role} was run: {why}. Name it {}, or give every command in a socklab.toml.",
                    names.first().map_or(role, String::as_str)
                ))
            })
            .collect()
    }

    /// `Found: README.md, notes.txt.`, the submission's files, shortened.
    fn found(&self) -> String {
        let mut paths: Vec<String> = walk(self.top)
            .into_iter()
            .map(|relative| shortened(&escape(relative.as_bytes())))
            .collect();
        paths.sort();
        let place = match self.nested {
            Some(folder) => format!(
                " (the files are in the folder {}/)",
                escape(folder.to_string_lossy().as_bytes())
            ),
            None => String::new(),
        };
        match paths.len() {
            0 => format!("Found no files{place}."),
            count if count <= LISTED => format!("Found{place}: {}.", paths.join(", ")),
            count => format!(
                "Found{place}: {}, and {} more.",
                paths[..LISTED].join(", "),
                count - LISTED
            ),
        }
    }

    /// What the conventions look for, in a sentence.
    fn looked_for(&self) -> String {
        let wanted: Vec<String> = self
            .choices
            .iter()
            .map(|(part, _)| {
                let names = self.lab.conventions.names(*part);
                format!("a {} named {}", part.as_str(), or_list(names))
            })
            .collect();
        let extensions: Vec<String> = Language::ALL
            .iter()
            .map(|language| format!(".{}", language.extension()))
            .collect();
        format!(
            "The grader looks for {} (with any of {}), or a Cargo package.",
            wanted.join(" and "),
            extensions.join(" ")
        )
    }

    /// Files that nearly qualified, and why they did not.
    fn problems(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (part, choice) in self.choices {
            match choice {
                Choice::Ambiguous(files) => lines.push(format!(
                    "Several files could be your {}: {}.",
                    part.as_str(),
                    listed(files)
                )),
                Choice::Missing => lines.extend(
                    self.not_programs(*part)
                        .into_iter()
                        .map(|line| format!("{line}.")),
                ),
                Choice::Planned(_) | Choice::Chosen(_) => {}
            }
        }
        lines.dedup();
        lines
    }

    /// Files named like `part` that are not programs (a Java class without
    /// a `main`), each as a sentence.
    fn not_programs(&self, part: Part) -> Vec<String> {
        self.files
            .iter()
            .filter(|file| !file.program && self.named_like(part, file))
            .map(|file| {
                format!(
                    "{} {}, so it is not run as your {}",
                    escape(file.name.as_bytes()),
                    file.language.lacks_entry_point(),
                    part.as_str()
                )
            })
            .collect()
    }

    fn named_like(&self, part: Part, file: &SourceFile) -> bool {
        names_role(part, &file.stem)
            || self
                .lab
                .conventions
                .names(part)
                .iter()
                .any(|name| name.eq_ignore_ascii_case(&file.stem))
    }

    /// For each part without a program, the one the student most likely
    /// meant: the first of several candidates, a file whose name is close to
    /// a conventional one, or the only program left whose code looks like
    /// that part (a server binds, listens or accepts).
    fn suggestions(&self) -> Vec<Suggestion<'_>> {
        let mut chosen: Vec<Suggestion<'_>> = Vec::new();
        for (part, choice) in self.choices {
            let taken = |file: &SourceFile, chosen: &[Suggestion<'_>]| {
                chosen.iter().any(|other| other.file.name == file.name)
            };
            let names = self.lab.conventions.names(*part);
            let suggestion = match choice {
                Choice::Planned(_) | Choice::Chosen(_) => None,
                Choice::Ambiguous(files) => self
                    .files
                    .iter()
                    .find(|file| file.name == files[0].name)
                    .map(|file| Suggestion {
                        part: *part,
                        file,
                        rename_to: None,
                    }),
                Choice::Missing => {
                    let programs: Vec<&SourceFile> = self
                        .files
                        .iter()
                        .filter(|file| file.program && !taken(file, &chosen))
                        .collect();
                    let close = programs.iter().find_map(|file| {
                        let name = names.iter().find(|name| close_to(&file.stem, name))?;
                        Some(Suggestion {
                            part: *part,
                            file,
                            rename_to: Some(name.clone()),
                        })
                    });
                    let by_code: Vec<&&SourceFile> = programs
                        .iter()
                        .filter(|file| looks_like(*part, file))
                        .collect();
                    let lone = match by_code.as_slice() {
                        [only] => Some(Suggestion {
                            part: *part,
                            file: only,
                            rename_to: None,
                        }),
                        _ => None,
                    };
                    close.or(lone)
                }
            };
            chosen.extend(suggestion);
        }
        chosen
    }

    /// The `socklab.toml` running `suggestions`, and every part already
    /// planned: a manifest replaces the conventions, so it needs them all.
    fn manifest(&self, suggestions: &[Suggestion<'_>]) -> String {
        let prefix = self
            .nested
            .map(|folder| format!("cd {} && ", language::shell_word(&folder.to_string_lossy())))
            .unwrap_or_default();
        let mut builds = Vec::new();
        let mut programs = Vec::new();
        for (part, choice) in self.choices {
            let command = match (choice, suggestions.iter().find(|s| s.part == *part)) {
                (Choice::Planned(display), _) => Some(display.clone()),
                (_, Some(suggestion)) => {
                    let file = suggestion.file;
                    let recipe = language::recipe(
                        file.language,
                        Path::new("."),
                        &file.name,
                        &file.text,
                        &[],
                        Path::new("python3"),
                    );
                    builds.extend(recipe.build);
                    Some(recipe.run.display)
                }
                (_, None) => None,
            };
            if let Some(command) = command {
                programs.push(format!(
                    "[{}]\ncommand = {}\n",
                    part.as_str(),
                    toml_string(&format!("{prefix}{command}"))
                ));
            }
        }
        let mut text = String::new();
        if !builds.is_empty() {
            let _ = writeln!(
                text,
                "build = {}",
                toml_string(&format!("{prefix}{}", builds.join(" && ")))
            );
        }
        text.push_str(&programs.join(""));
        text
    }

    /// A socklab.toml for the lab's first conventional names, in Python.
    fn example(&self) -> String {
        self.choices
            .iter()
            .map(|(part, _)| {
                let name = self
                    .lab
                    .conventions
                    .names(*part)
                    .first()
                    .cloned()
                    .unwrap_or_else(|| part.as_str().to_string());
                format!(
                    "[{}]\ncommand = {}\n",
                    part.as_str(),
                    toml_string(&format!("python3 -u {name}.py"))
                )
            })
            .collect()
    }
}

/// Whether a server or client is what `file`'s code looks like.
fn looks_like(part: Part, file: &SourceFile) -> bool {
    let serves = ["bind", "listen", "accept", "ServerSocket", "createServer"]
        .iter()
        .any(|word| file.text.contains(word));
    match part {
        Part::Server => serves,
        Part::Client => !serves,
    }
}

/// Whether `stem` is a near miss of `name`: another spelling a rename fixes
/// (`UDPSever`, `UPDServer`), not the same name in another case (which is
/// recognised as it is) nor a different word.
fn close_to(stem: &str, name: &str) -> bool {
    let (stem, name) = (stem.to_lowercase(), name.to_lowercase());
    stem != name && name.chars().count() >= 5 && edit_distance(&stem, &name) <= 2
}

/// The Levenshtein distance of two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn extension_of(name: &str) -> &str {
    Path::new(name)
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("")
}

/// `a, b or c`.
fn or_list(names: &[String]) -> String {
    match names {
        [] => "as the handout says".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// `a.py, b.py`, escaped.
fn listed(files: &[SourceFile]) -> String {
    files
        .iter()
        .map(|file| escape(file.name.as_bytes()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A path of at most [`PATH_CHARS`] characters, its start cut first.
fn shortened(path: &str) -> String {
    let count = path.chars().count();
    if count <= PATH_CHARS {
        return path.to_string();
    }
    let tail: String = path.chars().skip(count - (PATH_CHARS - 1)).collect();
    format!("…{tail}")
}

/// Every file under `top` that a person would call theirs (not hidden, not
/// a zip tool's `__MACOSX`), relative to `top`.
fn walk(top: &Path) -> Vec<String> {
    /// Enough to name a few and count the rest of any real submission.
    const MOST: usize = 10_000;
    let mut found = Vec::new();
    let mut pending = vec![top.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "__MACOSX" {
                continue;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(_) => {
                    if let Ok(relative) = path.strip_prefix(top) {
                        found.push(relative.to_string_lossy().into_owned());
                    }
                }
                Err(_) => {}
            }
            if found.len() >= MOST {
                return found;
            }
        }
    }
    found
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_close_and_other_words_are_not() {
        assert!(close_to("UDPSever", "UDPServer"));
        assert!(close_to("UPDServer", "UDPServer"));
        assert!(
            !close_to("udpserver", "UDPServer"),
            "the same name in another case"
        );
        assert!(!close_to("lab2", "UDPServer"));
        assert!(close_to("sever", "server"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn long_paths_keep_their_end() {
        let long = format!("{}/UDPServer.py", "a".repeat(60));
        let short = shortened(&long);
        assert_eq!(short.chars().count(), PATH_CHARS);
        assert!(short.ends_with("/UDPServer.py"), "{short}");
        assert!(short.starts_with('…'));
    }
}
