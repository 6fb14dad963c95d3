#!/usr/bin/env python3
"""pymodbus and raw-socket clients against the firmware (examples/firmware,
board mps2-an386) running in QEMU, reached through QEMU's hostfwd.

Run by ci/qemu-firmware.sh:

    python3 tests/python/firmware_clients.py 127.0.0.1 PORT          # checks
    python3 tests/python/firmware_clients.py 127.0.0.1 PORT --bench N # figures

Checks every function code the firmware serves (1, 2, 3, 4, 5, 6, 8, 11,
15, 16, 22, 23, 24, 43/14) and the exceptions of those it does not (17, 20,
21, an unknown one), three clients at once (the firmware's SOCKETS), a
client that resets its connection mid-frame, and one that stalls mid-frame
until the frame timeout drops it. Expected values are those the firmware
sets (examples/firmware/src/modbus.rs: holding register 0 = VERSION_MARKER,
device identification; src/main.rs: the input-register ticker; the board's
product code) or ones this script wrote first. Every wait is bounded.
"""

import os
import re
import socket
import struct
import sys
import threading
import time

from pymodbus.client import ModbusTcpClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 502
TIMEOUT = 3.0
SOCKETS = 3  # examples/firmware/src/main.rs
ROUNDS = 50
VERSION_MARKER = 0x0100  # examples/firmware/src/modbus.rs
PRODUCT_CODE = b"MB-AN386"  # examples/firmware/src/board/mps2_an386.rs
FRAME_TIMEOUT = 5.0  # EngineConfig::default()


def client():
    c = ModbusTcpClient(HOST, port=PORT, timeout=TIMEOUT, retries=0)
    if not c.connect():
        raise RuntimeError(f"cannot connect to {HOST}:{PORT}")
    return c


def regs(rr):
    return None if rr.isError() else list(rr.registers)


def bits(rr, n):
    return None if rr.isError() else list(rr.bits[:n])


def exception(rr):
    return getattr(rr, "exception_code", None) if rr.isError() else None


def done(rr):
    return not rr.isError()


def raw(frame, want):
    """Sends one raw frame on a new connection; returns up to `want` bytes."""
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    try:
        s.sendall(frame)
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while len(data) < want and time.monotonic() < deadline:
            chunk = s.recv(want - len(data))
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def function_codes(t):
    c = client()
    try:
        t.eq("FC 3 holding 0 is the version marker", regs(c.read_holding_registers(0, count=1)),
             [VERSION_MARKER])
        t.eq("FC 2 discrete inputs 0..8 (never set)", bits(c.read_discrete_inputs(0, count=8), 8),
             [False] * 8)
        # The ticker: uptime (high, low word) and ticks, every second.
        first = regs(c.read_input_registers(0, count=3))
        t.ok("FC 4 input registers 0..3", first is not None, f"got {first!r}")
        if first is not None:
            t.eq("FC 4 uptime high word", first[0], 0)
            t.ok("FC 4 uptime low word ~ ticks", abs(first[1] - first[2]) <= 2, f"got {first!r}")
            time.sleep(2.2)
            later = regs(c.read_input_registers(2, count=1))
            t.ok("FC 4 ticker advanced by 2 or 3 in 2.2 s",
                 later is not None and (later[0] - first[2]) % 65536 in (2, 3),
                 f"{first[2]} then {later!r}")
        t.ok("FC 5 coil 3 on", done(c.write_coil(3, True)))
        t.ok("FC 5 coil 4 off", done(c.write_coil(4, False)))
        t.eq("FC 1 coils 0..8", bits(c.read_coils(0, count=8), 8),
             [False, False, False, True, False, False, False, False])
        pattern = [True, False, True, True, False, True, False, False, True, True]
        t.ok("FC 15 coils 6..16", done(c.write_coils(6, pattern)))
        t.eq("FC 1 coils 6..16 (across a byte)", bits(c.read_coils(6, count=10), 10), pattern)
        t.ok("FC 6 holding 10", done(c.write_register(10, 0xA5A5)))
        t.ok("FC 16 holding 11..15", done(c.write_registers(11, [1, 2, 3, 65535])))
        t.eq("FC 3 holding 10..15", regs(c.read_holding_registers(10, count=5)),
             [0xA5A5, 1, 2, 3, 65535])
        # (0xA5A5 & 0xF0F0) | (0x0303 & ~0xF0F0) = 0xA3A3.
        t.ok("FC 22 mask write", done(c.mask_write_register(address=10, and_mask=0xF0F0,
                                                             or_mask=0x0303)))
        t.eq("FC 3 after FC 22", regs(c.read_holding_registers(10, count=1)), [0xA3A3])
        # The write happens before the read (Modbus application protocol, 6.17).
        t.eq("FC 23 read/write", regs(c.readwrite_registers(read_address=10, read_count=3,
                                                            write_address=11, values=[7, 8])),
             [0xA3A3, 7, 8])
        # FC 24: the count at the pointer, the queue after it.
        t.ok("FC 16 a FIFO queue at 30", done(c.write_registers(30, [2, 440, 4740])))
        rr = c.read_fifo_queue(address=30)
        t.eq("FC 24 read FIFO queue", None if rr.isError() else list(rr.values), [440, 4740])
        # FC 8 and 11: the counters, cleared first; normal responses since.
        rr = c.diag_query_data(b"\xA5\x37")
        t.eq("FC 8 return query data", None if rr.isError() else rr.message, b"\xA5\x37")
        t.ok("FC 8 clear counters", done(c.diag_clear_counters()))
        for _ in range(3):
            c.read_holding_registers(0, count=1)
        rr = c.diag_get_comm_event_counter()
        t.eq("FC 11 three normal responses since the clear",
             None if rr.isError() else (rr.status, rr.count), (True, 3))
        # 43/14: basic objects (the revision is the crate version), then one.
        rr = c.read_device_information(read_code=1, object_id=0)
        objects = {} if rr.isError() else {k: bytes(v) for k, v in rr.information.items()}
        t.eq("FC 43/14 objects 0 and 1", {k: objects.get(k) for k in (0, 1)},
             {0: b"Example Vendor", 1: PRODUCT_CODE})
        t.ok("FC 43/14 object 2 is a version",
             re.fullmatch(rb"\d+\.\d+\.\d+\S*", objects.get(2, b"")) is not None, repr(objects))
        rr = c.read_device_information(read_code=4, object_id=1)
        t.eq("FC 43/14 individual object 1", None if rr.isError() else bytes(rr.information[1]),
             PRODUCT_CODE)
        # Exceptions.
        t.eq("FC 3 past the 128-register table -> 2",
             exception(c.read_holding_registers(120, count=10)), 2)
        t.eq("FC 17 without a server id -> 1", exception(c.report_device_id()), 1)
    finally:
        c.close()
    # Raw frames (pymodbus will not send these).
    t.eq("FC 1 2001 coils -> exception 3",
         raw(struct.pack(">HHHBBHH", 0x0303, 0, 6, 1, 1, 0, 2001), 9),
         struct.pack(">HHHBBB", 0x0303, 0, 3, 1, 0x81, 3))
    t.eq("unknown FC 0x41 -> exception 1",
         raw(struct.pack(">HHHBB", 0x0404, 0, 2, 1, 0x41), 9),
         struct.pack(">HHHBBB", 0x0404, 0, 3, 1, 0xC1, 1))
    # FC 20 (file record, 0 sub-requests is refused by pymodbus): without
    # the library's file-records feature the firmware answers exception 1.
    t.eq("FC 20 (no file records in this build) -> exception 1",
         raw(struct.pack(">HHHBBBBHHH", 0x0505, 0, 10, 1, 0x14, 7, 6, 1, 0, 1), 9),
         struct.pack(">HHHBBB", 0x0505, 0, 3, 1, 0x94, 1))


def concurrent_clients(t):
    """SOCKETS clients connected at once, each writing and reading back its
    own registers ROUNDS times."""
    errors = []
    connected = threading.Barrier(SOCKETS, timeout=15)

    def worker(n):
        try:
            c = client()
            try:
                connected.wait()
                base = 40 + 10 * n
                for i in range(ROUNDS):
                    values = [(n << 12) | (i + k) % 4096 for k in range(4)]
                    if c.write_registers(base, values).isError():
                        raise RuntimeError(f"round {i}: FC 16 error")
                    got = regs(c.read_holding_registers(base, count=4))
                    if got != values:
                        raise RuntimeError(f"round {i}: wrote {values}, read {got}")
            finally:
                c.close()
        except Exception as e:  # reported below
            errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(SOCKETS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    t.eq("concurrent clients finished", [th.is_alive() for th in threads], [False] * SOCKETS)
    t.eq(f"{SOCKETS} clients at once x {ROUNDS} write/read rounds: errors", errors, [])


def reset_mid_frame(t):
    """Half a frame then a TCP reset (SO_LINGER 0), more times than there
    are sockets; a new client must then be answered."""
    for _ in range(SOCKETS + 1):
        s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        s.sendall(struct.pack(">HHHBBHH", 0x0101, 0, 6, 1, 3, 0, 1)[:7])
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    time.sleep(0.5)
    t.eq("answer after resets mid-frame",
         raw(struct.pack(">HHHBBHH", 0x0202, 0, 6, 1, 3, 0, 1), 11),
         struct.pack(">HHHBBBH", 0x0202, 0, 5, 1, 3, 2, VERSION_MARKER))


def stalled_mid_frame(t):
    """Half a frame and silence: dropped after the frame timeout, while
    another client is answered meanwhile."""
    s = socket.create_connection((HOST, PORT), timeout=FRAME_TIMEOUT + 5)
    try:
        s.sendall(b"\x00\x01\x00\x00\x00\x06\x01")
        started = time.monotonic()
        other = client()
        try:
            t.eq("answered while another client stalls",
                 regs(other.read_holding_registers(0, count=1)), [VERSION_MARKER])
        finally:
            other.close()
        try:
            data = s.recv(16)
        except (ConnectionResetError, socket.timeout):
            data = b""
        elapsed = time.monotonic() - started
        t.eq("stalled client dropped without a reply", data, b"")
        t.ok(f"dropped after the {FRAME_TIMEOUT:.0f} s frame timeout ({elapsed:.1f} s)",
             FRAME_TIMEOUT - 0.5 <= elapsed <= FRAME_TIMEOUT + 3)
    finally:
        s.close()


def bench(n):
    """n FC 3 reads of 10 registers, one at a time, on one connection:
    requests per second and latency percentiles."""
    c = client()
    latencies = []
    try:
        started = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            rr = c.read_holding_registers(0, count=10)
            latencies.append(time.perf_counter() - t0)
            if rr.isError() or rr.registers[0] != VERSION_MARKER:
                print(f"FAIL bench: request {i}: {rr!r}")
                return 1
        elapsed = time.perf_counter() - started
    finally:
        c.close()
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    print(f"pymodbus FC 3 x {n}: {n / elapsed:.0f} req/s, "
          f"p50 {pct(0.50):.2f} ms, p99 {pct(0.99):.2f} ms, max {latencies[-1] * 1000:.2f} ms")
    return 0


def main():
    if len(sys.argv) > 4 and sys.argv[3] == "--bench":
        return bench(int(sys.argv[4]))
    t = Checks("firmware (QEMU)")
    for part in (function_codes, concurrent_clients, reset_mid_frame, stalled_mid_frame):
        try:
            part(t)
        except Exception as e:  # a crash of one part fails it, the rest still runs
            t.ok(f"{part.__name__} ran", False, repr(e))
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
