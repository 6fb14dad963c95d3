#!/usr/bin/env bash
# Manual smoke test of the simulator with Debian's mbpoll (the automated
# version is tests/desktop_python.rs, mbpoll_client):
#
#   bash tests/mbpoll.sh [PORT]        (default 1502; needs mbpoll: ci/clients.sh)
#
# Starts examples/server on 127.0.0.1:PORT, writes and reads back every
# table with mbpoll, checks an exception, and stops the server with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-1502}

cargo build -q --features async-std --example server
BIN="${CARGO_TARGET_DIR:-target}/debug/examples/server"
MODBUS_LOG=warn "$BIN" --host 127.0.0.1 --port "$PORT" >/dev/null &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT

# Wait (at most 5 s) until it accepts connections.
for _ in $(seq 50); do
	if mbpoll -m tcp -p "$PORT" -0 -1 -o 1 -r 0 -c 1 127.0.0.1 >/dev/null 2>&1; then break; fi
	sleep 0.1
done

poll() { mbpoll -m tcp -p "$PORT" -0 -1 -o 2 "$@"; }
# The "[ref]: value" lines of a read, as "ref=value" words.
values() { poll "$@" 127.0.0.1 | sed -n 's/^\[\([0-9]*\)\]:[[:space:]]*\(-\{0,1\}[0-9]*\).*/\1=\2/p' | tr '\n' ' '; }
expect() {
	local want=$1; shift
	local got; got=$(values "$@")
	if [ "$got" != "$want" ]; then
		echo "FAIL mbpoll $*: got '$got', want '$want'" >&2
		exit 1
	fi
}

poll -t 4 -r 10 127.0.0.1 1 2 3 >/dev/null       # FC 16
poll -t 4 -r 13 127.0.0.1 4242 >/dev/null        # FC 6
expect "10=1 11=2 12=3 13=4242 " -t 4 -r 10 -c 4 # FC 3
poll -t 0 -r 5 127.0.0.1 1 0 1 >/dev/null        # FC 15
poll -t 0 -r 8 127.0.0.1 1 >/dev/null            # FC 5
expect "5=1 6=0 7=1 8=1 " -t 0 -r 5 -c 4         # FC 1
expect "0=0 1=0 " -t 1 -r 0 -c 2                 # FC 2
expect "0=0 1=0 " -t 3 -r 0 -c 2                 # FC 4
out=$(poll -t 4 -r 65535 -c 2 127.0.0.1 2>&1 || true) # mbpoll exits 1 on an exception
if ! grep -qi "illegal data address" <<<"$out"; then
	echo "FAIL: no exception 2 past the end of the table" >&2
	exit 1
fi
echo "mbpoll: 9 passed, 0 failed"
