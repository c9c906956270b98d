#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image from
# the zip (which it unpacks into /autograder/source). It installs what grading
# needs: python3 for textbook-style submissions, and the socklab grader at
# /autograder/source/bin/grader, where run_autograder looks for it.
#
# The grader comes from, in order:
#   1. bin/grader in the zip: a Linux x86-64 build you made with
#      `cargo build --release -p grader` (fastest; no Rust on Gradescope);
#   2. the socklab sources in the zip, as socklab/ (the repository's root);
#   3. the repository named by SOCKLAB_REPOSITORY, with `cargo install --git`.
# The last two need Rust 1.85 or newer: Ubuntu's own package when it is new
# enough, rustup's minimal profile otherwise.
set -euo pipefail

source_dir="${AUTOGRADER_ROOT:-/autograder}/source"
repository="${SOCKLAB_REPOSITORY:-https://example.invalid/socklab}"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 ca-certificates curl git build-essential

if [ -x "$source_dir/bin/grader" ]; then
    echo "socklab: using the grader shipped in the zip"
    "$source_dir/bin/grader" --version
    exit 0
fi

rust_is_recent() {
    command -v rustc >/dev/null 2>&1 || return 1
    local version minor
    version="$(rustc --version | cut -d' ' -f2)"
    minor="$(echo "$version" | cut -d. -f2)"
    [ "$(echo "$version" | cut -d. -f1)" -gt 1 ] || [ "$minor" -ge 85 ]
}

apt-get install -y -qq --no-install-recommends rustc cargo || true
if ! rust_is_recent; then
    echo "socklab: the distribution's Rust is older than 1.85; installing it with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        | sh -s -- -y --profile minimal --default-toolchain stable
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

if [ -f "$source_dir/socklab/Cargo.toml" ]; then
    cargo install --locked --path "$source_dir/socklab/grader" --root "$source_dir"
else
    cargo install --locked --git "$repository" grader --root "$source_dir"
fi
"$source_dir/bin/grader" --version
