#!/usr/bin/env bash
# Installs the Debian packages and Python clients the tests use, only where
# missing (idempotent, quiet on success).
set -euo pipefail
need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v mbpoll >/dev/null || need+=(mbpoll)
command -v arm-none-eabi-size >/dev/null || need+=(binutils-arm-none-eabi)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
    echo "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -f ci/clients.sh ]; then
    bash ci/clients.sh
fi
