//! The labs that ship inside the grader binary, read from `fixtures/labs/` at
//! build time so `grader grade udp-uppercase` works from any directory.

use super::{Lab, LabError, load_str};

macro_rules! builtin_lab {
    ($name:literal) => {
        (
            $name,
            concat!("fixtures/labs/", $name, ".toml"),
            include_str!(concat!("../../../fixtures/labs/", $name, ".toml")),
        )
    };
}

/// `(name, path shown in messages, TOML text)` of every built-in lab.
pub const BUILTIN_LABS: &[(&str, &str, &str)] = &[
    builtin_lab!("udp-uppercase"),
    builtin_lab!("tcp-uppercase"),
    builtin_lab!("udp-count-s"),
    builtin_lab!("tcp-lines"),
];

/// The built-in lab called `name`, if there is one.
pub fn builtin(name: &str) -> Option<Result<Lab, LabError>> {
    BUILTIN_LABS
        .iter()
        .find(|(lab_name, _, _)| *lab_name == name)
        .map(|(_, path, text)| load_str(text, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_lab_loads_and_is_named_for_its_file() {
        for (name, path, text) in BUILTIN_LABS {
            let lab = load_str(text, path).unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(lab.name, *name);
            assert!(lab.max_score() > 0);
        }
    }
}
