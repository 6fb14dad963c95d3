#!/usr/bin/env bash
# Embedded builds: the core on a Cortex-M0 (no atomics, no FPU, no heap),
# the embedded adapter on a Cortex-M4F/M7, and the NUCLEO-F767ZI firmware in
# examples/firmware, with its size against the same firmware without Modbus.
#
# Runs on a fresh Debian/Ubuntu machine with rustup; installs the Rust
# targets and binutils-arm-none-eabi (for arm-none-eabi-size) if missing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi

if ! command -v arm-none-eabi-size >/dev/null; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q binutils-arm-none-eabi
fi

echo "--- core, thumbv6m-none-eabi, no default features"
cargo build --lib --release --target thumbv6m-none-eabi --no-default-features
cargo clippy --lib --target thumbv6m-none-eabi --no-default-features -- -D warnings

echo "--- embedded adapter, thumbv7em-none-eabihf"
FEATURES=embedded-io,defmt,critical-section,embassy
cargo build --lib --release --target thumbv7em-none-eabihf --no-default-features --features "$FEATURES"
cargo clippy --lib --target thumbv7em-none-eabihf --no-default-features --features "$FEATURES" -- -D warnings

echo "--- firmware (examples/firmware), thumbv7em-none-eabihf"
FIRMWARE="$ROOT/examples/firmware"
ELF="$FIRMWARE/target/thumbv7em-none-eabihf/release/modbus-firmware"
SIZES=$(mktemp -d)
trap 'rm -rf "$SIZES"' EXIT
# The firmware is its own workspace with its own target directory.
(
	cd "$FIRMWARE"
	unset CARGO_TARGET_DIR
	cargo fmt --check
	cargo clippy --release --locked -- -D warnings
	cargo clippy --release --locked --features no-modbus -- -D warnings
	cargo clippy --release --locked --features dhcp -- -D warnings
	cargo build --release --locked --features no-modbus
	cp "$ELF" "$SIZES/firmware-no-modbus"
	cargo build --release --locked
	cp "$ELF" "$SIZES/firmware-modbus"
)

echo "--- sizes"
arm-none-eabi-size "$SIZES/firmware-modbus" "$SIZES/firmware-no-modbus"
read -r text_m data_m bss_m _ < <(arm-none-eabi-size "$SIZES/firmware-modbus" | tail -n 1)
read -r text_e data_e bss_e _ < <(arm-none-eabi-size "$SIZES/firmware-no-modbus" | tail -n 1)
flash=$((text_m + data_m - text_e - data_e))
ram=$((data_m + bss_m - data_e - bss_e))
printf 'Modbus adds: flash %d bytes (%d.%02d KiB), RAM %d bytes\n' \
	"$flash" $((flash * 100 / 1024 / 100)) $((flash * 100 / 1024 % 100)) "$ram"
echo "per-connection task state (socket_task::POOL / 3):"
arm-none-eabi-nm -C -S "$SIZES/firmware-modbus" | grep 'socket_task::POOL' || true
if [ "$flash" -ge $((12 * 1024)) ]; then
	echo "FAIL: the Modbus code takes $flash bytes of flash (budget 12 KiB)"
	exit 1
fi
