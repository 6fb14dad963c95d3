#!/usr/bin/env bash
# Modbus RTU (features rtu, serial, embedded-hal): lints and docs with the
# RTU features, the no_std builds of the RTU core and UART driver, and the
# RTU tests: byte-exact vectors and the no-panic property on virtual time,
# RTU over TCP on the three desktop runtimes (pymodbus's RTU framer), serial
# RTU on socat PTY pairs (pymodbus's serial client, mbpoll -m rtu,
# libmodbus's modbus_new_rtu), and the simulator's --rtu options. The
# turnaround benchmark is built, not run (its numbers depend on the
# machine's load: `cargo bench --bench rtu_turnaround --features
# async-std,smol,tokio,serial`).
#
# Needs what ci/install.sh installs (socat, mbpoll, libmodbus-dev, the
# Python clients with pyserial in target/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export MODBUS_PYTHON="${MODBUS_PYTHON:-$PWD/target/venv/bin/python3}"

DESKTOP=async-std,smol,tokio,rtu,serial,embedded-hal
echo "--- clippy and docs with the RTU features"
cargo clippy --all-targets --features "$DESKTOP" -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps \
	--features "$DESKTOP,embedded-io,critical-section,embassy"

echo "--- no_std: the RTU core on a Cortex-M0, the UART driver on a Cortex-M4F"
cargo clippy --lib --target thumbv6m-none-eabi --no-default-features --features rtu -- -D warnings
cargo build --lib --release --target thumbv6m-none-eabi --no-default-features --features rtu
EMBEDDED=embedded-io,defmt,critical-section,embassy,rtu,embedded-hal
cargo clippy --lib --target thumbv7em-none-eabihf --no-default-features --features "$EMBEDDED" -- -D warnings
cargo clippy --no-default-features --features embedded-io,rtu,embedded-hal --lib -- -D warnings

echo "--- RTU tests"
cargo test --features "$DESKTOP" --lib rtu
cargo test --features "$DESKTOP" --doc rtu
cargo test --features "$DESKTOP" \
	--test rtu_vectors --test rtu_proptest --test rtu_tcp --test rtu_serial --test rtu_simulator

echo "--- turnaround benchmark builds"
cargo bench --bench rtu_turnaround --features async-std,smol,tokio,serial --no-run
