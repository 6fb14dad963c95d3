#!/usr/bin/env bash
# The project's test command (README): installs what a fresh Debian machine
# lacks, then runs every check. Each step prints a header; the first failure
# stops the run with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s ====\n' "$*"; }
SECONDS=0

step "install: rustup components and targets"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf

step "install: Debian packages and Python clients"
bash ci/install.sh

step "format"
cargo fmt --all -- --check

step "clippy (desktop features, all targets)"
cargo clippy --all-targets --features async-std,smol -- -D warnings
step "clippy (no_std embedded adapter)"
cargo clippy --no-default-features --features embedded-io,critical-section --lib -- -D warnings

step "tests (unit, behaviour, property, integration with real clients, doc tests)"
cargo test --features async-std,smol

step "docs without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features async-std,smol,embedded-io,critical-section

step "no_std builds, adapter and firmware for microcontrollers"
bash ci/embedded.sh

step "core test vectors on an emulated Cortex-M (qemu)"
bash ci/qemu-test.sh

step "embedded adapter on embassy-net over a TAP device (network namespace)"
bash ci/tap-test.sh

step "fuzz targets build"
bash ci/fuzz-build.sh

step "load benchmark: format, lints, its own tests (both clients catch wrong answers)"
cargo fmt --manifest-path benches/load/Cargo.toml -- --check
cargo clippy --release --all-targets --manifest-path benches/load/Cargo.toml -- -D warnings
cargo test --release --manifest-path benches/load/Cargo.toml

step "load benchmark smoke run (every response checked)"
cargo run --release --manifest-path benches/load/Cargo.toml -- --quick

step "engine micro-benchmark builds"
cargo bench --bench engine --no-run

echo
echo "all checks passed in ${SECONDS}s"
