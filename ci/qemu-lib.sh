# Shared by the scripts that boot the mps2-an386 firmware with its UART on a
# host pseudo-terminal (ci/qemu-serial.sh, ci/qemu-rtu.sh): sourced, not run.
# Expects to be sourced from the repository root with `set -euo pipefail`.

# A work directory, removed on exit, and QEMU stopped on exit, always.
WORK=$(mktemp -d)
QEMU_PID=""
qemu_stop() {
	if [ -n "$QEMU_PID" ]; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	QEMU_PID=""
}
qemu_cleanup() {
	qemu_stop
	rm -rf "$WORK"
}
trap qemu_cleanup EXIT
trap 'exit 130' INT TERM

# build_firmware ELF FEATURES: lints and builds the mps2-an386 firmware with
# FEATURES (comma-separated, the board included) and copies it to ELF.
build_firmware() {
	local elf=$1 features=$2
	(
		cd examples/firmware
		unset CARGO_TARGET_DIR # its own workspace and target directory
		cargo clippy --release --locked --no-default-features --features "$features" -- -D warnings
		cargo build --release --locked --no-default-features --features "$features"
		cp target/thumbv7em-none-eabihf/release/modbus-firmware "$elf"
	)
}

# boot_with_pty ELF LOG NIC READY...: boots ELF with UART0 on a PTY and the
# network card NIC (a -nic argument), logging to LOG, then waits (10 s at
# most) until QEMU names the PTY and LOG has every READY pattern. Sets
# QEMU_PID and PTY; PTY is empty if the firmware did not get ready.
# QEMU prints "char device redirected to /dev/pts/N (label serial0)".
boot_with_pty() {
	local elf=$1 log=$2 nic=$3 pattern ready
	shift 3
	: >"$log" # exists before QEMU's redirection does
	timeout 120 qemu-system-arm -M mps2-an386 -nographic -serial pty -monitor none \
		-semihosting-config enable=on,target=native \
		-nic "$nic" -kernel "$elf" </dev/null >"$log" 2>&1 &
	QEMU_PID=$!
	PTY=""
	for _ in $(seq 1 100); do
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then break; fi
		PTY=$(sed -n 's|^char device redirected to \(/dev/pts/[0-9]*\).*|\1|p' "$log" | head -n 1)
		ready=1
		for pattern in "$@"; do
			grep -q "$pattern" "$log" || ready=0
		done
		if [ -n "$PTY" ] && [ "$ready" -eq 1 ]; then return 0; fi
		PTY=""
		sleep 0.1
	done
}
