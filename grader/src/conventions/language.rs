//! The languages a submission without a manifest may be written in: how a
//! source file of each is recognised as a program (it has a `main`), how it
//! is built, and how it is run. Every command is what a student would type
//! in the folder of their files; build output stays in the scratch copy.

use std::path::Path;

use crate::plan::ProgramPlan;

/// A language the conventions know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Language {
    Python,
    Java,
    C,
    Cpp,
    Go,
    JavaScript,
}

impl Language {
    pub const ALL: [Language; 6] = [
        Language::Python,
        Language::Java,
        Language::C,
        Language::Cpp,
        Language::Go,
        Language::JavaScript,
    ];

    /// The language of a source file, from its extension.
    pub fn of(path: &Path) -> Option<Language> {
        let extension = path.extension()?.to_str()?;
        Some(match extension {
            "py" => Language::Python,
            "java" => Language::Java,
            "c" => Language::C,
            "cpp" | "cc" | "cxx" => Language::Cpp,
            "go" => Language::Go,
            "js" | "mjs" | "cjs" => Language::JavaScript,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::Java => "Java",
            Language::C => "C",
            Language::Cpp => "C++",
            Language::Go => "Go",
            Language::JavaScript => "JavaScript",
        }
    }

    /// The extension a file of this language is named with by default.
    pub fn extension(self) -> &'static str {
        match self {
            Language::Python => "py",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Go => "go",
            Language::JavaScript => "js",
        }
    }

    /// What a file of this language lacks when it is not a program, in the
    /// language's own words: "UDPServer.java {has no …}".
    pub fn lacks_entry_point(self) -> &'static str {
        match self {
            Language::Python => "does not use sockets",
            Language::Java => "has no `public static void main(String[] args)`",
            Language::C | Language::Cpp => "has no `int main(...)`",
            Language::Go => "has no `func main()` in `package main`",
            Language::JavaScript => "is not a script",
        }
    }

    /// Whether `source` is a program of this language rather than a helper
    /// file. A Python file must at least use sockets: `server_utils.py` with
    /// no socket in it is not a lab server.
    pub fn is_program(self, source: &str) -> bool {
        // Comments do not count (`// no main method yet`), and whitespace
        // runs become one space, so `static  void\nmain (` is seen.
        let code = self.without_comments(source);
        let flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
        let has = |needle: &str| flat.contains(needle);
        match self {
            Language::Python => has("socket") || has("asyncio"),
            Language::Java => {
                (has("static void main(") || has("static void main ("))
                    || has("static public void main")
            }
            Language::C | Language::Cpp => ["int main(", "int main (", "void main(", "void main ("]
                .iter()
                .any(|needle| has(needle)),
            Language::Go => has("package main") && (has("func main()") || has("func main ()")),
            Language::JavaScript => true,
        }
    }

    /// `source` with its comments blanked out; string literals are kept, so
    /// a `"//"` in one does not start a comment.
    pub fn without_comments(self, source: &str) -> String {
        let line_comment = match self {
            Language::Python => "#",
            Language::Java | Language::C | Language::Cpp | Language::Go | Language::JavaScript => {
                "//"
            }
        };
        let block_comments = self != Language::Python;
        let mut code = String::with_capacity(source.len());
        let mut rest = source;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with(line_comment) {
                let end = rest.find('\n').unwrap_or(rest.len());
                rest = &rest[end..];
            } else if block_comments && rest.starts_with("/*") {
                let end = rest[2..].find("*/").map_or(rest.len(), |at| at + 4);
                code.push(' ');
                rest = &rest[end..];
            } else if c == '"' || c == '\'' {
                // A literal, up to its closing quote or the end of the line.
                let mut end = c.len_utf8();
                let mut escaped = false;
                for (at, next) in rest[end..].char_indices() {
                    end = c.len_utf8() + at + next.len_utf8();
                    match next {
                        '\\' if !escaped => escaped = true,
                        '\n' => break,
                        quote if quote == c && !escaped => break,
                        _ => escaped = false,
                    }
                }
                code.push_str(&rest[..end]);
                rest = &rest[end..];
            } else {
                code.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        code
    }

    /// The tools building and running a program of this language needs.
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Language::Python => &["python3"],
            Language::Java => &["javac", "java"],
            Language::C => &["cc"],
            Language::Cpp => &["c++"],
            Language::Go => &["go"],
            Language::JavaScript => &["node"],
        }
    }
}

/// How one source file is built and run.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// A shell command run in the folder of the file, before anything runs.
    pub build: Option<String>,
    pub run: ProgramPlan,
}

/// The recipe for `file` (a name in `root`, the folder the programs run in),
/// whose text is `source`. `helpers` are the other files of the same
/// language in `root` that have no `main` of their own (a C `utils.c`, a
/// Java `Handler.java`): they are compiled with it.
pub fn recipe(
    language: Language,
    root: &Path,
    file: &str,
    source: &str,
    helpers: &[String],
    python3: &Path,
) -> Recipe {
    let stem = Path::new(file)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string());
    let native = |build: String| Recipe {
        build: Some(build),
        run: ProgramPlan {
            argv: vec![root.join(&stem).to_string_lossy().into_owned()],
            display: format!("./{stem}"),
        },
    };
    let with_helpers = |first: &str| {
        std::iter::once(first)
            .chain(helpers.iter().map(String::as_str))
            .map(shell_word)
            .collect::<Vec<_>>()
            .join(" ")
    };
    match language {
        Language::Python => Recipe {
            build: None,
            run: ProgramPlan {
                argv: vec![
                    python3.to_string_lossy().into_owned(),
                    "-u".into(),
                    file.into(),
                ],
                display: format!("python3 -u {file}"),
            },
        },
        Language::Java => {
            // `-d .` puts a class of a `package x;` under x/, where `java`
            // looks for it. The helper classes beside it are named, not
            // found through -sourcepath, which would look for a packaged
            // class in a folder of its package's name.
            let class = match java_package(&language.without_comments(source)) {
                Some(package) => format!("{package}.{stem}"),
                None => stem.clone(),
            };
            Recipe {
                build: Some(format!("javac -encoding UTF-8 -d . {}", with_helpers(file))),
                run: ProgramPlan {
                    argv: ["java", "-cp", ".", class.as_str()]
                        .map(String::from)
                        .to_vec(),
                    display: format!("java -cp . {class}"),
                },
            }
        }
        // -pthread: threaded servers (one thread per client) are common.
        Language::C => native(format!(
            "cc -pthread -o {} {}",
            shell_word(&stem),
            with_helpers(file)
        )),
        Language::Cpp => native(format!(
            "c++ -pthread -o {} {}",
            shell_word(&stem),
            with_helpers(file)
        )),
        // The cache goes to the program's private temporary directory, and a
        // go.mod asking for a newer Go never downloads one.
        Language::Go => native(format!(
            "GOCACHE=\"$TMPDIR/go-build\" GOPATH=\"$TMPDIR/go\" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -o {} {}",
            shell_word(&stem),
            shell_word(file)
        )),
        Language::JavaScript => Recipe {
            build: None,
            run: ProgramPlan {
                argv: vec!["node".into(), file.into()],
                display: format!("node {file}"),
            },
        },
    }
}

/// The package a Java source declares, if any (`package lab2;`).
fn java_package(source: &str) -> Option<String> {
    source.lines().map(str::trim).find_map(|line| {
        let name = line
            .strip_prefix("package ")?
            .trim()
            .strip_suffix(';')?
            .trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        valid.then(|| name.to_string())
    })
}

/// `word` quoted for `/bin/sh` when it needs to be.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+=:@%,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_told_from_helpers() {
        assert!(
            Language::Java
                .is_program("public class A {\n  public static void main(String[] a) {}\n}")
        );
        assert!(Language::Java.is_program("class A { static public void main(String[] a) {} }"));
        assert!(
            !Language::Java
                .is_program("public class Handler implements Runnable { public void run() {} }")
        );
        assert!(Language::C.is_program("#include <stdio.h>\nint\tmain (void) { return 0; }"));
        assert!(!Language::C.is_program("int helper(int x) { return x; }"));
        assert!(Language::Go.is_program("package main\n\nfunc main() {}\n"));
        assert!(!Language::Go.is_program("package util\n\nfunc Main() {}\n"));
        assert!(Language::Python.is_program("from socket import *\n"));
        assert!(!Language::Python.is_program("def helper():\n    pass\n"));
    }

    #[test]
    fn comments_do_not_make_a_program() {
        let commented = "// TODO: add public static void main(String[] args)\n/* int main(void) */\nclass A {}\n";
        assert!(!Language::Java.is_program(commented));
        assert!(!Language::C.is_program(commented));
        assert!(!Language::Python.is_program("# no socket yet\nprint('hi')\n"));
        let url = "String u = \"http://x\"; public static void main(String[] a) {}";
        assert!(
            Language::Java.is_program(url),
            "a // inside a string is not a comment"
        );
        assert_eq!(
            Language::C.without_comments("a /* b */ c // d\ne"),
            "a   c \ne"
        );
    }

    #[test]
    fn java_classes_in_a_package_run_by_their_full_name() {
        let source =
            "package lab2;\npublic class UDPServer { public static void main(String[] a) {} }";
        let recipe = recipe(
            Language::Java,
            Path::new("/x"),
            "UDPServer.java",
            source,
            &[],
            Path::new("python3"),
        );
        assert_eq!(recipe.run.display, "java -cp . lab2.UDPServer");
        assert!(recipe.build.unwrap().starts_with("javac "));
    }

    #[test]
    fn c_helpers_are_compiled_in_and_odd_names_quoted() {
        let recipe = recipe(
            Language::C,
            Path::new("/x"),
            "my server.c",
            "int main(void) {}",
            &["util.c".to_string()],
            Path::new("python3"),
        );
        assert_eq!(
            recipe.build.as_deref(),
            Some("cc -pthread -o 'my server' 'my server.c' util.c")
        );
        assert_eq!(recipe.run.argv, vec!["/x/my server".to_string()]);
    }
}
