#!/usr/bin/env bash
# The project's test command (README): installs what a fresh Debian machine
# lacks, then runs every check. Needs root (apt-get; ci/tap-test.sh creates a
# network namespace and a TAP device). Each step prints a header, and the
# time the previous one took; the first failure stops the run with a
# non-zero exit and names the step.
#
# Tests that need the external clients (mbpoll, the Python clients in
# target/venv) fail when they are missing; MODBUS_SKIP_EXTERNAL=1 makes them
# skip instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# The interpreter of the virtual environment ci/clients.sh makes, with
# pymodbus and pyModbusTCP (tests/desktop_python.rs, ci/tap-test.sh).
export MODBUS_PYTHON="$PWD/target/venv/bin/python3"

current="" # the running step
started=0  # when it started ($SECONDS)
end_step() {
	if [ -n "$current" ]; then
		printf -- '---- %s: %ds\n' "$current" $((SECONDS - started))
	fi
}
step() {
	end_step
	current=$*
	started=$SECONDS
	printf '\n==== %s ====\n' "$*"
}
on_exit() {
	local status=$?
	if [ "$status" -ne 0 ] && [ -n "$current" ]; then
		printf '\nFAILED in step "%s" after %ds (exit %d; %ds in all)\n' \
			"$current" $((SECONDS - started)) "$status" "$SECONDS"
	fi
}
trap on_exit EXIT
SECONDS=0

step "install: rustup components and targets"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf

step "install: Debian packages (C/C++ compiler, qemu, mbpoll, ...) and the Python clients in target/venv"
bash ci/install.sh

step "format"
cargo fmt --all -- --check

step "clippy (desktop features, all targets)"
cargo clippy --all-targets --features async-std,smol,tokio -- -D warnings
step "clippy (each desktop runtime alone: no feature-combination warnings)"
for runtime in async-std smol tokio; do
	cargo clippy --lib --features "$runtime" -- -D warnings
done
step "clippy (no_std embedded adapter)"
cargo clippy --no-default-features --features embedded-io,critical-section,embassy --lib -- -D warnings

step "tests (unit, behaviour, property, integration with real clients, doc tests)"
cargo test --features async-std,smol,tokio,embassy,critical-section
# The core alone (no std, no file records): the feature-gated paths.
cargo test --lib --no-default-features

step "Modbus/TCP Security: TLS, mutual authentication, roles (feature tls)"
bash ci/tls-test.sh

step "docs without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features async-std,smol,tokio,embedded-io,critical-section,embassy

step "no_std builds, adapter and firmware for microcontrollers"
bash ci/embedded.sh

step "core test vectors on an emulated Cortex-M (qemu)"
bash ci/qemu-test.sh

step "the firmware itself on an emulated board (qemu mps2-an386, LAN9118, user-mode network; mbpoll, pymodbus)"
bash ci/qemu-firmware.sh

step "embedded adapter on embassy-net over a TAP device (network namespace)"
bash ci/tap-test.sh

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
export FUZZ_SECONDS
if [ "$FUZZ_SECONDS" -gt 0 ]; then
	step "fuzz: build the targets (frame, engine_stream, device_id, engine_rtu), then fuzz each for ${FUZZ_SECONDS}s"
else
	step "fuzz targets build only (FUZZ_SECONDS=0: no fuzzing)"
fi
bash ci/fuzz-build.sh

step "load benchmark: format, lints, its own tests (both clients catch wrong answers)"
cargo fmt --manifest-path benches/load/Cargo.toml -- --check
cargo clippy --release --all-targets --manifest-path benches/load/Cargo.toml -- -D warnings
cargo test --release --manifest-path benches/load/Cargo.toml

step "load benchmark smoke run (every response checked)"
cargo run --release --manifest-path benches/load/Cargo.toml -- --quick

step "abuse suite: format, lints, its own tests (the response checker, /proc parsing)"
cargo fmt --manifest-path benches/abuse/Cargo.toml -- --check
cargo clippy --release --all-targets --manifest-path benches/abuse/Cargo.toml -- -D warnings
cargo test --release --manifest-path benches/abuse/Cargo.toml

# Timing targets are only reported here (no --strict): the exit status is
# non-zero when an attack cannot run, a client got a wrong answer, or the
# server exited.
step "abuse suite (short): every attack runs, healthy client answered"
cargo run --release --manifest-path benches/abuse/Cargo.toml -- --short
step "abuse suite (short) on the tokio adapter"
cargo run --release --manifest-path benches/abuse/Cargo.toml -- --short --runtime tokio

step "Modbus RTU: lints, no_std builds, vectors, RTU over TCP, serial lines on PTYs (ci/rtu-test.sh)"
bash ci/rtu-test.sh

step "engine micro-benchmark builds"
cargo bench --bench engine --no-run

end_step
current=""
echo
echo "all checks passed in ${SECONDS}s"
