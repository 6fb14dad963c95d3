#!/usr/bin/env bash
# Installs the independent Modbus clients the tests run against the server:
# Debian's mbpoll, and the Python packages pymodbus and pyModbusTCP in a
# virtual environment, target/venv (the system's Python is left alone).
# Tests run that environment's interpreter: $MODBUS_PYTHON (ci/test.sh sets
# it), else target/venv/bin/python3. Idempotent: installs only what is
# missing; silent on success.
#
# Pinned versions: the ones tests/python/*.py were written and checked with.
set -euo pipefail
cd "$(dirname "$0")/.."

PYMODBUS=3.16.1
PYMODBUSTCP=0.3.1
# pymodbus's serial client (the RTU tests on PTY pairs) needs pyserial.
PYSERIAL=3.5
VENV=target/venv

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

apt_updated=false
apt_install() {
	if [ "$apt_updated" = false ]; then
		$SUDO apt-get update -qq >/dev/null
		apt_updated=true
	fi
	$SUDO apt-get install -y -qq "$@" >/dev/null
}

command -v mbpoll >/dev/null || apt_install mbpoll
command -v python3 >/dev/null || apt_install python3

# The environment is complete when its pip runs; Debian's python3 without
# python3-venv (no ensurepip) leaves a half-made one behind.
PYTHON="$VENV/bin/python3"
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
	rm -rf "$VENV"
	if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
		rm -rf "$VENV"
		apt_install python3-venv
		python3 -m venv "$VENV"
	fi
fi

# True if the environment imports module $1 at version $2 (major.minor must match).
has_module() {
	"$PYTHON" - "$1" "$2" <<'PY' 2>/dev/null
import importlib, sys
name, want = sys.argv[1], sys.argv[2]
have = importlib.import_module(name).__version__
sys.exit(0 if have.split(".")[:2] == want.split(".")[:2] else 1)
PY
}

wanted=()
has_module pymodbus "$PYMODBUS" || wanted+=("pymodbus==$PYMODBUS")
has_module pyModbusTCP "$PYMODBUSTCP" || wanted+=("pyModbusTCP==$PYMODBUSTCP")
has_module serial "$PYSERIAL" || wanted+=("pyserial==$PYSERIAL")
if [ "${#wanted[@]}" -gt 0 ]; then
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	if ! "$PYTHON" -m pip install -q --disable-pip-version-check "${wanted[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		exit 1
	fi
fi
