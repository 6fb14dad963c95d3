#!/usr/bin/env bash
# Installs the Debian packages and Python clients the tests use, only where
# missing (idempotent, quiet on success):
#   build-essential       the C/C++ compiler: cargo-fuzz's libfuzzer-sys
#                         compiles libFuzzer (C++), and linking needs cc
#   qemu-system-arm       ci/qemu-test.sh
#   binutils-arm-none-eabi  arm-none-eabi-size, ci/embedded.sh
#   iproute2              ip netns / tuntap, ci/tap-test.sh
#   socat                 PTY pairs for the serial RTU tests, ci/rtu-test.sh
#   libmodbus-dev         libmodbus's report server id, tests/desktop_libmodbus.rs
#   openssl             the RSA key of the TLS tests, tests/desktop_tls.rs
#   mbpoll, python3, python3-venv, and pymodbus + pyModbusTCP in the
#                         virtual environment target/venv: ci/clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
{ command -v cc && command -v c++ && command -v make; } >/dev/null || need+=(build-essential)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v mbpoll >/dev/null || need+=(mbpoll)
command -v arm-none-eabi-size >/dev/null || need+=(binutils-arm-none-eabi)
command -v ip >/dev/null || need+=(iproute2)
command -v socat >/dev/null || need+=(socat)
[ -f /usr/include/modbus/modbus.h ] || need+=(libmodbus-dev)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
# Debian moves ensurepip (which venv needs) into python3-venv.
python3 -c "import ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    echo "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash ci/clients.sh
