#!/usr/bin/env python3
"""The firmware's UART0 (examples/firmware, board mps2-an386, feature
serial-echo) through QEMU's `-serial pty`: bytes written to the host PTY
come back, and a burst far larger than the firmware's receive ring does not
hang it; every byte of the burst is either echoed or counted as dropped in
the firmware's log, and the driver's `read` reported the loss in-band.

Run by ci/qemu-serial.sh:

    python3 tests/python/serial_echo.py /dev/pts/N QEMU_LOG

Standard library only (no pyserial): the PTY is opened with os.open and
put in raw mode with termios (tty.setraw). Every wait is bounded.
"""

import os
import random
import re
import select
import sys
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

PTY = sys.argv[1]
LOG = sys.argv[2]
RX_RING = 512  # examples/firmware/src/cmsdk_uart.rs
# Far beyond the ring, and beyond what the host PTY buffers on the echo's
# way back (about 20 KiB measured on Linux), so the firmware's echo blocks
# on TX and its ring overflows.
BURST = 128 * 1024
DROPPED_LINE = re.compile(
    rb"uart0: dropped (\d+) \(ring of \d+ full\), overruns (\d+), overrun errors read (\d+)"
)


def read_until(fd, want, timeout, quiet=None):
    """Reads until `want` bytes, `timeout` seconds, or (if set) `quiet`
    seconds without a byte."""
    out = bytearray()
    start = last = time.monotonic()
    while len(out) < want:
        now = time.monotonic()
        if now - start > timeout or (quiet is not None and now - last > quiet):
            break
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if chunk:
                out += chunk
                last = time.monotonic()
    return bytes(out)


def write_all(fd, data, timeout):
    """Writes as much of `data` as the PTY takes in `timeout` seconds
    (without reading); how many bytes."""
    done = 0
    start = time.monotonic()
    while done < len(data) and time.monotonic() - start < timeout:
        _, ready, _ = select.select([], [fd], [], 0.05)
        if ready:
            try:
                done += os.write(fd, data[done : done + 4096])
            except BlockingIOError:
                pass
    return done


def is_subsequence(short, long):
    """True if `short` is `long` with some bytes left out, order kept."""
    it = iter(long)
    return all(byte in it for byte in short)


def log_counters():
    """The firmware's last logged (dropped, UART overruns, overrun errors
    `read` returned), or None."""
    with open(LOG, "rb") as f:
        found = DROPPED_LINE.findall(f.read())
    return tuple(int(v) for v in found[-1]) if found else None


def main():
    checks = Checks("serial echo")
    fd = os.open(PTY, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)

        # QEMU notices that the PTY was opened on a 1 s timer; until then
        # it neither reads it nor writes to it. Probe until an echo comes.
        started = time.monotonic()
        synced = False
        for _ in range(20):
            os.write(fd, b"?")
            if read_until(fd, 1, 0.25):
                synced = True
                break
        checks.ok("echo within 5 s of opening the PTY", synced)
        if not synced:
            return checks.finish()
        read_until(fd, 1 << 20, 1.0, quiet=0.3)  # late echoes of the probes
        print(f"serial: first echo after {time.monotonic() - started:.2f} s")

        # Exact echoes, one byte to several ring-fulls, all 256 values.
        rng = random.Random(15)
        for size in (1, 7, 256, RX_RING, 4 * RX_RING):
            data = bytes(range(256)) if size == 256 else rng.randbytes(size)
            t = time.monotonic()
            written = write_all(fd, data, 5.0)
            got = read_until(fd, size, 10.0)
            elapsed = time.monotonic() - t
            checks.eq(f"echo of {size} bytes", (written, got), (size, data))
            if size == 4 * RX_RING:
                rate = size / elapsed if elapsed > 0 else 0
                ms = elapsed * 1000
                print(f"serial: {size} bytes echoed in {ms:.0f} ms ({rate / 1024:.1f} KiB/s)")

        # A burst written without reading: the echo stalls on the full PTY,
        # the ring overflows. Nothing hangs, and echoed + dropped = sent.
        before = log_counters() or (0, 0, 0)
        data = rng.randbytes(BURST)
        t = time.monotonic()
        written = write_all(fd, data, 15.0)
        checks.eq("burst written", written, BURST)
        got = read_until(fd, BURST, 15.0, quiet=1.0)
        took = time.monotonic() - t
        print(f"serial: burst of {written} bytes, {len(got)} echoed, in {took:.1f} s")
        checks.ok("burst echo is the burst less dropped bytes", is_subsequence(got, data[:written]))

        # Still alive, exact again; its log now counts the whole burst.
        probe = b"after the burst\x00\xff"
        os.write(fd, probe)
        checks.eq("echo after the burst", read_until(fd, len(probe), 5.0), probe)
        after = None
        for _ in range(20):  # the log line follows the echo
            after = log_counters()
            if after and after[0] - before[0] + len(got) == written:
                break
            time.sleep(0.1)
        dropped = after[0] - before[0] if after else 0
        overruns = after[1] if after else "?"
        print(f"serial: firmware counted {dropped} dropped, {overruns} UART overruns")
        checks.eq("echoed + dropped = sent", len(got) + dropped, written)
        checks.ok("the ring overflowed (drops counted)", dropped > 0, f"dropped {dropped}")
        checks.eq("no UART overrun under QEMU", after[1] if after else None, 0)
        errors = after[2] - before[2] if after else 0
        print(f"serial: read reported the loss in-band {errors} time(s)")
        checks.ok("read reported the loss (RxError::Overrun)", errors > 0 or dropped == 0)
    finally:
        os.close(fd)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
