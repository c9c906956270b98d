#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image from
# the zip (which it unpacks into /autograder/source). It installs what grading
# needs and nothing more: the tools the assignment's submissions are built and
# run with, and the socklab grader at /autograder/source/bin/grader, where
# run_autograder looks for it.
#
# Settings (environment variables, or edit the line marked EDIT below):
#   SOCKLAB_LANGUAGES   the languages students hand in, from: python rust java
#                       c cpp go javascript (default: python, the textbook's)
#   SOCKLAB_REPOSITORY  where socklab's sources are, for building the grader
#   APT_GET             the package installer (default apt-get)
#
# The grader comes from, in order:
#   1. bin/grader in the zip: a Linux x86-64 build you made with
#      `cargo build --release -p grader` (fastest; no Rust is installed for it);
#   2. the socklab sources in the zip, as socklab/ (the repository's root);
#   3. SOCKLAB_REPOSITORY, with `cargo install --git`.
# The last two, and Rust submissions, need Rust 1.85 or newer: Ubuntu's own
# package when it is new enough, rustup's minimal profile otherwise.
set -euo pipefail

# EDIT: the languages of this assignment, e.g. "python rust"
languages="${SOCKLAB_LANGUAGES:-python}"

source_dir="${AUTOGRADER_ROOT:-/autograder}/source"
repository="${SOCKLAB_REPOSITORY:-}"
apt_get="${APT_GET:-apt-get}"
export DEBIAN_FRONTEND=noninteractive

shipped=false
[ -x "$source_dir/bin/grader" ] && shipped=true

packages=(ca-certificates)
needs_rust=false
for language in $languages; do
    case "$language" in
        python) packages+=(python3) ;;
        rust) needs_rust=true ;;
        java) packages+=(default-jdk-headless) ;;
        c) packages+=(gcc libc6-dev) ;;
        cpp) packages+=(g++) ;;
        go) packages+=(golang-go) ;;
        javascript) packages+=(nodejs) ;;
        *)
            echo "socklab: unknown language \`$language\` in SOCKLAB_LANGUAGES; known: python rust java c cpp go javascript" >&2
            exit 2
            ;;
    esac
done
if ! $shipped; then
    needs_rust=true
    if [ ! -f "$source_dir/socklab/Cargo.toml" ] && [ -z "$repository" ]; then
        echo "socklab: no bin/grader and no socklab/ sources in the zip, and SOCKLAB_REPOSITORY is not set: there is no grader to install." >&2
        exit 2
    fi
    packages+=(git)
fi
if $needs_rust; then
    # cargo builds with a C linker.
    packages+=(curl gcc libc6-dev)
fi

"$apt_get" update -qq
"$apt_get" install -y -qq --no-install-recommends "${packages[@]}"

rust_is_recent() {
    command -v cargo >/dev/null 2>&1 || return 1
    local version minor
    version="$(rustc --version | cut -d' ' -f2)"
    minor="$(echo "$version" | cut -d. -f2)"
    [ "$(echo "$version" | cut -d. -f1)" -gt 1 ] || [ "$minor" -ge 85 ]
}

if $needs_rust && ! rust_is_recent; then
    "$apt_get" install -y -qq --no-install-recommends rustc cargo || true
    if ! rust_is_recent; then
        echo "socklab: the distribution's Rust is older than 1.85; installing it with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --default-toolchain stable
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
fi

if $shipped; then
    echo "socklab: using the grader shipped in the zip"
elif [ -f "$source_dir/socklab/Cargo.toml" ]; then
    cargo install --locked --path "$source_dir/socklab/grader" --root "$source_dir"
else
    cargo install --locked --git "$repository" grader --root "$source_dir"
fi
"$source_dir/bin/grader" --version
