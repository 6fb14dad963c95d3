#!/usr/bin/env bash
# Host proof of the embedded adapter over a real TCP/IP stack: the tests-tap
# server (the firmware's own src/modbus.rs on embassy-net / smoltcp on a TAP
# device, embassy-executor's std platform) inside a network namespace this
# script creates, tested by Debian's mbpoll and by pymodbus
# (tests-tap/clients.py, run on the virtual environment's interpreter:
# $MODBUS_PYTHON, else target/venv/bin/python3).
#
# Needs root (network namespace, TAP device). On a fresh Debian/Ubuntu
# machine it installs iproute2 itself, and mbpoll and pymodbus in
# target/venv through ci/clients.sh.
# Always deletes the namespace; exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

NS="modbus-tap-$$"
TAP=tap0
HOST_IP=192.168.69.1 # the kernel's side of the TAP, inside the namespace
DEV_IP=192.168.69.2  # the embassy-net stack
SERVER_LOG=$(mktemp)
SERVER_PID=""
FAILURES=0

fail() {
	echo "FAIL $*"
	FAILURES=$((FAILURES + 1))
}

cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -f "$SERVER_LOG"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "tap-test.sh must run as root (network namespace and TAP device)" >&2
	exit 1
fi

# --- Dependencies -----------------------------------------------------------
if ! command -v ip >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q iproute2
fi
bash ci/clients.sh # mbpoll; pymodbus in target/venv
PYTHON=${MODBUS_PYTHON:-$ROOT/target/venv/bin/python3}

# --- Build ------------------------------------------------------------------
(cd tests-tap && env -u CARGO_TARGET_DIR cargo build --release --locked)
SERVER="$ROOT/tests-tap/target/release/modbus-tap-test"

# --- Namespace and TAP --------------------------------------------------------
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add "$HOST_IP/24" dev "$TAP"
ip -n "$NS" link set "$TAP" up

# Bounded: the server is killed by cleanup, or by timeout at the latest.
ip netns exec "$NS" timeout 600 "$SERVER" "$TAP" "$DEV_IP" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 100); do
	if grep -q "^listening" "$SERVER_LOG"; then
		ready=1
		break
	fi
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [ "$ready" -ne 1 ]; then
	echo "server did not start:"
	cat "$SERVER_LOG"
	exit 1
fi

in_ns() {
	ip netns exec "$NS" timeout 30 "$@"
}

# mbpoll: -0 PDU addressing, -1 one poll; prints "[ref]: value", and for
# input registers "value(signed value)". Prints only the values, one a line.
mbpoll_values() {
	in_ns mbpoll -m tcp -a 1 -0 -1 -o 2 "$@" "$DEV_IP" | sed -n 's/^\[[0-9]*\]:[[:space:]]*//p' | sed 's/(.*)//' | tr -d ' \r'
}

expect_values() {
	local what=$1 expected=$2 got
	shift 2
	got=$(mbpoll_values "$@" | tr '\n' ' ' | sed 's/ $//') || true
	if [ "$got" = "$expected" ]; then
		echo "ok   mbpoll $what: $got"
	else
		fail "mbpoll $what: expected '$expected', got '$got'"
	fi
}

mbpoll_write() {
	local what=$1
	shift
	if in_ns mbpoll -m tcp -a 1 -0 -1 -o 2 "$@" >/dev/null; then
		echo "ok   mbpoll $what"
	else
		fail "mbpoll $what"
	fi
}

# --- mbpoll -------------------------------------------------------------------
expect_values "fc3 holding 0..2" "256 22136" -t 4 -r 0 -c 2
expect_values "fc2 discrete inputs 0..8" "1 0 1 1 0 0 0 1" -t 1 -r 0 -c 8
expect_values "fc4 input register 2" "48879" -t 3 -r 2 -c 1
mbpoll_write "fc6 holding 100 = 777" -t 4 -r 100 "$DEV_IP" 777
mbpoll_write "fc16 holding 101..104 = 1 2 3" -t 4 -r 101 "$DEV_IP" 1 2 3
expect_values "holding 100..104 after writes" "777 1 2 3" -t 4 -r 100 -c 4
mbpoll_write "fc5 coil 200 = 1" -t 0 -r 200 "$DEV_IP" 1
mbpoll_write "fc15 coils 201..205 = 0 1 1 0" -t 0 -r 201 "$DEV_IP" 0 1 1 0
expect_values "fc1 coils 200..205 after writes" "1 0 1 1 0" -t 0 -r 200 -c 5
# Out of the firmware's 128-register table: exception 2, which mbpoll reports.
out=$(in_ns mbpoll -m tcp -a 1 -0 -1 -o 2 -t 4 -r 127 -c 2 "$DEV_IP" 2>&1) || true
if echo "$out" | grep -qi "illegal data address"; then
	echo "ok   mbpoll read past the table -> illegal data address"
else
	fail "mbpoll read past the table: expected 'Illegal data address', got: $out"
fi

# Several mbpoll clients at once, each polling every 20 ms for 3 s; timeout
# then sends SIGINT, on which mbpoll prints its statistics and exits.
pids=()
for i in 0 1 2; do
	ip netns exec "$NS" timeout -s INT 3 mbpoll -m tcp -a 1 -0 -l 20 -o 2 -t 4 -r 0 -c 2 "$DEV_IP" \
		>"$SERVER_LOG.mbpoll$i" 2>&1 &
	pids+=($!)
done
for i in 0 1 2; do
	wait "${pids[$i]}" || true
	polls=$(grep -c "^\[1\]:[[:space:]]*22136" "$SERVER_LOG.mbpoll$i" || true)
	# "N frames transmitted, N received, 0 errors, 0.0% frame loss"
	stats=$(grep "frames transmitted" "$SERVER_LOG.mbpoll$i" || true)
	read -r sent _ _ received _ errors _ <<<"${stats//,/}"
	if [ "$polls" -ge 20 ] && [ "${sent:-0}" = "${received:-x}" ] && [ "${errors:-x}" = 0 ]; then
		echo "ok   concurrent mbpoll $i: $polls correct polls; $stats"
	else
		fail "concurrent mbpoll $i: $polls correct polls; statistics: '$stats'"
		cat "$SERVER_LOG.mbpoll$i"
	fi
	rm -f "$SERVER_LOG.mbpoll$i"
done

# --- pymodbus and raw sockets (every function code, concurrency, resets) ------
if ip netns exec "$NS" timeout 120 "$PYTHON" tests-tap/clients.py "$DEV_IP"; then
	:
else
	fail "clients.py"
fi

# The server saw the resets as I/O errors (not as clean closes) and went on.
resets=$(grep -c "I/O error" "$SERVER_LOG" || true)
if [ "$resets" -ge 1 ]; then
	echo "ok   server logged $resets connection reset(s)"
else
	fail "server logged no connection reset"
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
	fail "server exited"
fi

echo "--- server log (last 15 lines) ---"
tail -n 15 "$SERVER_LOG"
if [ "$FAILURES" -ne 0 ]; then
	echo "tap-test: $FAILURES failure(s)"
	exit 1
fi
echo "tap-test: all checks passed"
