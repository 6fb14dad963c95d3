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

echo "--- firmware RS-485 variant (examples/firmware --features rtu): lints, build, sizes"
(
	cd examples/firmware
	unset CARGO_TARGET_DIR
	cargo fmt --check
	cargo clippy --release --locked --features rtu -- -D warnings
	cargo build --release --locked --features rtu
	ELF=target/thumbv7em-none-eabihf/release/modbus-firmware
	SIZES=$(mktemp -d)
	cp "$ELF" "$SIZES/firmware-rtu"
	cargo build --release --locked
	cp "$ELF" "$SIZES/firmware-tcp"
	arm-none-eabi-size "$SIZES/firmware-rtu" "$SIZES/firmware-tcp"
	read -r text_r data_r bss_r _ < <(arm-none-eabi-size "$SIZES/firmware-rtu" | tail -n 1)
	read -r text_t data_t bss_t _ < <(arm-none-eabi-size "$SIZES/firmware-tcp" | tail -n 1)
	printf 'RTU adds: flash %d bytes, RAM %d bytes\n' \
		$((text_r + data_r - text_t - data_t)) $((data_r + bss_r - data_t - bss_t))
	rm -rf "$SIZES"
)

echo "--- RTU tests"
cargo test --features "$DESKTOP" --lib rtu
cargo test --features "$DESKTOP" --doc rtu
cargo test --features "$DESKTOP" \
	--test rtu_vectors --test rtu_proptest --test rtu_tcp --test rtu_serial --test rtu_simulator

echo "--- turnaround benchmark builds"
cargo bench --bench rtu_turnaround --features async-std,smol,tokio,serial --no-run
