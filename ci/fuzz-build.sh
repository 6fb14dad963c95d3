#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ (frame, engine_stream, device_id,
# engine_rtu)
# and runs each for FUZZ_SECONDS seconds (default 20; 0 only builds).
# Installs cargo-fuzz (and a nightly toolchain) when missing. Exits non-zero
# on a build failure or on any crash; a crash's input is left in
# fuzz/artifacts/<target>/ (replay: cargo +nightly fuzz run <target> <file>).
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
if ! command -v c++ >/dev/null; then
	echo "fuzz-build.sh needs a C++ compiler for libFuzzer (ci/install.sh installs build-essential)" >&2
	exit 1
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
TARGETS=(frame engine_stream device_id engine_rtu)

if ! rustup toolchain list | grep -q '^nightly'; then
	rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build

if [ "$FUZZ_SECONDS" -gt 0 ]; then
	for target in "${TARGETS[@]}"; do
		echo "== fuzz $target for ${FUZZ_SECONDS}s"
		mkdir -p "corpus/$target"
		log="artifacts/$target.log"
		mkdir -p artifacts
		# -max_total_time bounds the run; a crash or a failed assertion
		# makes cargo fuzz exit non-zero.
		if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
			-max_total_time="$FUZZ_SECONDS" -print_final_stats=1 >"$log" 2>&1; then
			tail -n 40 "$log"
			echo "FAIL fuzz target $target; crash input in fuzz/artifacts/$target/"
			exit 1
		fi
		grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
	done
fi
echo "fuzz targets OK"
