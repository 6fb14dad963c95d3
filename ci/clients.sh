#!/usr/bin/env bash
# Installs the independent Modbus clients that tests/desktop_python.rs runs
# against the server: Debian's mbpoll, and the Python packages pymodbus and
# pyModbusTCP. Idempotent: installs only what is missing; silent on success.
#
# Pinned versions: the ones tests/python/*.py were written and checked with.
set -euo pipefail

PYMODBUS=3.16.1
PYMODBUSTCP=0.3.1

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
python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip

# True if python3 imports module $1 at version $2 (major.minor must match).
has_module() {
	python3 - "$1" "$2" <<'PY' 2>/dev/null
import importlib, sys
name, want = sys.argv[1], sys.argv[2]
have = importlib.import_module(name).__version__
sys.exit(0 if have.split(".")[:2] == want.split(".")[:2] else 1)
PY
}

wanted=()
has_module pymodbus "$PYMODBUS" || wanted+=("pymodbus==$PYMODBUS")
has_module pyModbusTCP "$PYMODBUSTCP" || wanted+=("pyModbusTCP==$PYMODBUSTCP")
if [ "${#wanted[@]}" -gt 0 ]; then
	pip=(python3 -m pip install -q --disable-pip-version-check)
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	# Debian's own python3 is "externally managed" (PEP 668): pip then needs
	# --break-system-packages to install beside the system's packages.
	if ! PIP_ROOT_USER_ACTION=ignore "${pip[@]}" "${wanted[@]}" >"$log" 2>&1; then
		if grep -q externally-managed "$log"; then
			PIP_ROOT_USER_ACTION=ignore "${pip[@]}" --break-system-packages "${wanted[@]}" >"$log" 2>&1 || {
				cat "$log" >&2
				exit 1
			}
		else
			cat "$log" >&2
			exit 1
		fi
	fi
fi
