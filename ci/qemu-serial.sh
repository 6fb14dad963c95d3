#!/usr/bin/env bash
# The firmware's serial path on an emulated board: examples/firmware with
# board mps2-an386 and feature serial-echo (UART0, the CMSDK APB UART of
# src/cmsdk_uart.rs, echoes what it receives), booted under QEMU with UART0
# on a host pseudo-terminal (`-serial pty`). tests/python/serial_echo.py
# then checks exact echoes and a burst far beyond the firmware's receive
# ring (no hang; every byte echoed or counted as dropped in the log).
# The firmware's logs go over semihosting, not UART0. Last, ci/qemu-rtu.sh
# boots the `rtu` variant (Modbus RTU on UART0) and runs real clients.
#
#   bash ci/qemu-serial.sh   # the exit status is the verdict
#
# Called by ci/qemu-firmware.sh (which installs the Rust target and QEMU);
# standalone it needs thumbv7em-none-eabihf, qemu-system-arm and python3.
# QEMU is always stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."

. ci/qemu-lib.sh

# --- Build ------------------------------------------------------------------------
ELF="$WORK/modbus-firmware-serial-echo"
build_firmware "$ELF" mps2-an386,serial-echo

# --- Boot -----------------------------------------------------------------------
LOG="$WORK/qemu.log"
boot_with_pty "$ELF" "$LOG" user,model=lan9118 "uart0: echo at"
if [ -z "$PTY" ]; then
	echo "FAIL the firmware did not start its UART0 echo within 10 s; QEMU's output:"
	cat "$LOG"
	exit 1
fi
echo "ok   UART0 on $PTY: $(grep -m 1 "uart0: echo at" "$LOG")"

# --- Checks -----------------------------------------------------------------------
status=0
timeout 60 python3 tests/python/serial_echo.py "$PTY" "$LOG" || status=1
if grep -qE "^(PANIC|FATAL)" "$LOG" || ! kill -0 "$QEMU_PID" 2>/dev/null; then
	echo "FAIL the firmware panicked, faulted or QEMU exited"
	status=1
fi
arm-none-eabi-size "$ELF" 2>/dev/null || true
echo "--- firmware log (last 5 lines)"
tail -n 5 "$LOG"

# --- Modbus RTU on the same UART (feature rtu, its own boot) ----------------------
# The echo above tests the driver at its limits (a burst beyond the ring);
# ci/qemu-rtu.sh serves Modbus RTU through it to real clients.
qemu_stop
if ! bash ci/qemu-rtu.sh; then
	echo "FAIL ci/qemu-rtu.sh"
	status=1
fi
if [ "$status" -ne 0 ]; then
	echo "qemu-serial: FAILED"
	exit 1
fi
echo "qemu-serial: all checks passed"
