#!/usr/bin/env bash
# Runs qemu-tests/ (the no_std core on an emulated Cortex-M3, QEMU
# mps2-an385): spec vectors, exceptions, pipelining, split frames and device
# identification paging, compared byte for byte. The firmware's semihosting
# exit status is QEMU's and this script's: non-zero on any mismatch or panic.
#
# On a fresh Debian machine it adds the thumbv7m-none-eabi target and
# installs qemu-system-arm.
set -euo pipefail

cd "$(dirname "$0")/../qemu-tests"

if ! rustup target list --installed | grep -qx thumbv7m-none-eabi; then
	rustup target add thumbv7m-none-eabi
fi
if ! command -v qemu-system-arm >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y qemu-system-arm
fi

cargo build --release
# The runner in qemu-tests/.cargo/config.toml starts QEMU; a hung firmware
# is stopped after 120 s (timeout's exit status 124 fails the script).
timeout 120 cargo run --release
echo "qemu-tests OK"
