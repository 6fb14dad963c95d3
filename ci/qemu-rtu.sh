#!/usr/bin/env bash
# The firmware's Modbus RTU on an emulated board: examples/firmware with
# board mps2-an386 and feature rtu (src/rtu_cmsdk.rs: unit 1 on UART0, the
# CMSDK APB UART of src/cmsdk_uart.rs, at a nominal 2,400 baud), booted
# under QEMU with UART0 on a host pseudo-terminal (`-serial pty`) and the
# Modbus TCP port forwarded to 127.0.0.1 (hostfwd) in the same boot, so
# that one service answers both. Real clients then talk to it:
# - mbpoll -m rtu on FC 1, 3, 5, 6 and 16 with exact values, and an
#   exception (a read past the 128-register table);
# - a write over RTU read back over TCP (mbpoll -m tcp);
# - tests/python/firmware_rtu.py: pymodbus's serial client reading and
#   writing, raw frames (a wrong CRC and another unit get no answer, a
#   broadcast write is applied without answer), writes across RTU and TCP,
#   and the figures (requests per second, latency) under emulation.
#
#   bash ci/qemu-rtu.sh   # the exit status is the verdict
#
# Called by ci/qemu-serial.sh (itself called by ci/qemu-firmware.sh, which
# installs the Rust target, QEMU and the clients); standalone it needs
# thumbv7em-none-eabihf, qemu-system-arm, mbpoll and pymodbus with pyserial
# in target/venv (ci/clients.sh). QEMU is always stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${MODBUS_PYTHON:-$ROOT/target/venv/bin/python3}

. ci/qemu-lib.sh

# --- Build ------------------------------------------------------------------------
ELF="$WORK/modbus-firmware-rtu"
build_firmware "$ELF" mps2-an386,rtu

# --- Boot -------------------------------------------------------------------------
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG="$WORK/qemu.log"
boot_with_pty "$ELF" "$LOG" "user,model=lan9118,hostfwd=tcp:127.0.0.1:$PORT-10.0.2.15:502" \
	"rtu: unit 1 on uart0" "network up"
if [ -z "$PTY" ]; then
	echo "FAIL the firmware did not start Modbus RTU on UART0 within 10 s; QEMU's output:"
	cat "$LOG"
	exit 1
fi
echo "ok   $(grep -m 1 "rtu: unit 1 on uart0" "$LOG" | sed 's/^INFO  //'), $PTY; TCP on 127.0.0.1:$PORT"
# Hold the PTY open for the whole check (never read from it): when the
# last host process closes it, QEMU's pty backend sees a hang-up and only
# polls the PTY again about once a second, so the first request of the
# next client would wait up to 1 s and miss its timeout.
exec {HOLD}<>"$PTY"

# --- mbpoll over RTU and TCP: exact values ------------------------------------------
FAILURES=0
fail() {
	echo "FAIL $*"
	FAILURES=$((FAILURES + 1))
}
rtu_poll=(mbpoll -m rtu -b 2400 -P none -a 1 -0 -o 1)
rtu=("${rtu_poll[@]}" -1)
tcp=(mbpoll -m tcp -a 1 -0 -o 2 -1 -p "$PORT")
values() { # values MBPOLL... : the values read, one line
	timeout 10 "$@" 2>/dev/null | sed -n 's/^\[[0-9]*\]:[[:space:]]*//p' | sed 's/(.*)//' | tr -d ' \r' | tr '\n' ' ' | sed 's/ $//'
}
expect() { # expect WHAT EXPECTED MBPOLL...
	local what=$1 expected=$2 got
	shift 2
	got=$(values "$@") || true
	if [ "$got" = "$expected" ]; then
		echo "ok   $what: $got"
	else
		fail "$what: expected '$expected', got '$got'"
	fi
}
write() { # write WHAT MBPOLL...
	local what=$1
	shift
	if timeout 10 "$@" >/dev/null 2>&1; then
		echo "ok   $what"
	else
		fail "$what"
	fi
}
expect "rtu fc3 holding 0..2 (version marker)" "256 0 0" "${rtu[@]}" -t 4 -r 0 -c 3 "$PTY"
write "rtu fc6 holding 50 = 4321" "${rtu[@]}" -t 4 -r 50 "$PTY" 4321
write "rtu fc16 holding 51..53 = 7 8 9" "${rtu[@]}" -t 4 -r 51 "$PTY" 7 8 9
expect "rtu fc3 holding 50..53" "4321 7 8 9" "${rtu[@]}" -t 4 -r 50 -c 4 "$PTY"
write "rtu fc5 coil 60 = 1" "${rtu[@]}" -t 0 -r 60 "$PTY" 1
expect "rtu fc1 coils 59..61" "0 1 0" "${rtu[@]}" -t 0 -r 59 -c 3 "$PTY"
out=$(timeout 10 "${rtu[@]}" -t 4 -r 127 -c 2 "$PTY" 2>&1) || true
if grep -q "Illegal data address" <<<"$out"; then
	echo "ok   rtu read past the 128-register table -> illegal data address"
else
	fail "rtu read past the table: expected 'Illegal data address', got: $out"
fi
expect "tcp fc3 reads the rtu writes, holding 50..53" "4321 7 8 9" "${tcp[@]}" -t 4 -r 50 -c 4 127.0.0.1
expect "tcp fc1 reads the rtu coil 60" "1" "${tcp[@]}" -t 0 -r 60 -c 1 127.0.0.1

# --- pymodbus's serial client, raw frames, figures ---------------------------------
if ! timeout 60 "$PYTHON" tests/python/firmware_rtu.py "$PTY" "$PORT" --bench 100; then
	fail "tests/python/firmware_rtu.py"
fi

# mbpoll polling over RTU as fast as it can for 3 s (-l 10: 10 ms between
# polls); timeout's SIGINT makes it print its statistics.
timeout -s INT 3 "${rtu_poll[@]}" -l 10 -t 4 -r 50 -c 4 "$PTY" >"$WORK/poll" 2>&1 || true
polls=$(grep -c "^\[53\]:[[:space:]]*9$" "$WORK/poll" || true)
stats=$(grep "frames transmitted" "$WORK/poll" || true)
read -r sent _ _ received _ errors _ <<<"${stats//,/}"
if [ "$polls" -ge 10 ] && [ "${sent:-0}" -le $((${received:-0} + 1)) ] && [ "${errors:-x}" -le 1 ]; then
	echo "ok   mbpoll rtu polling for 3 s: $polls correct polls ($((polls / 3)) req/s); $stats"
else
	fail "mbpoll rtu polling: $polls correct polls; statistics: '$stats'"
	cat "$WORK/poll"
fi

exec {HOLD}<&-
if grep -qE "^(PANIC|FATAL)" "$LOG" || ! kill -0 "$QEMU_PID" 2>/dev/null; then
	fail "the firmware panicked, faulted or QEMU exited"
fi
if grep -q "rtu: uart0 error" "$LOG"; then
	fail "the firmware logged UART errors: $(grep -c "rtu: uart0 error" "$LOG")"
fi
arm-none-eabi-size "$ELF" 2>/dev/null || true
echo "--- firmware log (last 5 lines)"
tail -n 5 "$LOG"
if [ "$FAILURES" -ne 0 ]; then
	echo "qemu-rtu: $FAILURES failure(s)"
	exit 1
fi
echo "qemu-rtu: all checks passed"
