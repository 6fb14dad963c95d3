#!/usr/bin/env python3
"""pymodbus and raw-socket clients against the TAP server (tests-tap).

Run inside the test's network namespace by ci/tap-test.sh:

    python3 tests-tap/clients.py 192.168.69.2

Checks every function code (1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 43/14),
exceptions, several concurrent clients, a client that resets its connection
in the middle of a frame, and a client that stalls mid-frame (frame
timeout). Exits 1 on the first failed check, with what was expected and what
came back. The expected values are those the firmware's modbus.rs and
tests-tap's main.rs set up, or ones this script wrote itself first.
"""

import re
import socket
import struct
import sys
import threading
import time

from pymodbus.client import ModbusTcpClient

HOST = sys.argv[1] if len(sys.argv) > 1 else "192.168.69.2"
PORT = 502
# Every wait below is bounded; the whole script is also run under `timeout`.
TIMEOUT = 3.0
CONCURRENT = 4  # the server's socket count
ROUNDS = 100
# Holding register 0 at start: the firmware's VERSION_MARKER (modbus.rs).
VERSION_MARKER = 0x0100


class Failure(Exception):
    pass


def check(what, got, expected):
    if got != expected:
        raise Failure(f"{what}: expected {expected!r}, got {got!r}")
    print(f"ok   {what}")


def ok(what, response):
    """The response, or a failure if it is an error/exception response."""
    if response.isError():
        raise Failure(f"{what}: error response {response!r}")
    return response


def exception_code(response):
    return getattr(response, "exception_code", None) if response.isError() else None


def client():
    c = ModbusTcpClient(HOST, port=PORT, timeout=TIMEOUT, retries=0)
    if not c.connect():
        raise Failure(f"cannot connect to {HOST}:{PORT}")
    return c


def function_codes():
    c = client()
    try:
        # 3: the firmware's version marker, and the value main.rs sets.
        r = ok("fc3", c.read_holding_registers(0, count=2))
        check("fc3 read holding 0..2", r.registers, [VERSION_MARKER, 0x5678])
        # 2: the discrete inputs main.rs sets.
        r = ok("fc2", c.read_discrete_inputs(0, count=8))
        check("fc2 read discrete inputs 0..8", r.bits[:8],
              [True, False, True, True, False, False, False, True])
        # 4: register 2 is constant, register 1 (ticks) increases each second.
        r = ok("fc4", c.read_input_registers(0, count=3))
        check("fc4 input register 2", r.registers[2], 0xBEEF)
        ticks = r.registers[1]
        time.sleep(2.2)
        r = ok("fc4 again", c.read_input_registers(1, count=1))
        later = r.registers[0]
        check("fc4 ticker advanced by 2 or 3 in 2.2 s", (later - ticks) % 65536 in (2, 3), True)
        # 5 and 1.
        ok("fc5", c.write_coil(3, True))
        ok("fc5", c.write_coil(4, False))
        r = ok("fc1", c.read_coils(0, count=8))
        check("fc5/fc1 coils 0..8", r.bits[:8],
              [False, False, False, True, False, False, False, False])
        # 15 and 1, across a byte boundary.
        pattern = [True, False, True, True, False, True, False, False, True, True]
        ok("fc15", c.write_coils(6, pattern))
        r = ok("fc1", c.read_coils(6, count=10))
        check("fc15/fc1 coils 6..16", r.bits[:10], pattern)
        # 6 and 16.
        ok("fc6", c.write_register(10, 0xA5A5))
        ok("fc16", c.write_registers(11, [1, 2, 3, 65535]))
        r = ok("fc3", c.read_holding_registers(10, count=5))
        check("fc6/fc16 holding 10..15", r.registers, [0xA5A5, 1, 2, 3, 65535])
        # 22: (0xA5A5 & 0xF0F0) | (0x0303 & ~0xF0F0) = 0xA0A0 | 0x0303.
        ok("fc22", c.mask_write_register(address=10, and_mask=0xF0F0, or_mask=0x0303))
        r = ok("fc3", c.read_holding_registers(10, count=1))
        check("fc22 mask write", r.registers, [0xA3A3])
        # 23: the write happens before the read (Modbus spec), so the read
        # sees the new values.
        r = ok("fc23", c.readwrite_registers(read_address=10, read_count=3,
                                             write_address=11, values=[7, 8]))
        check("fc23 read/write", r.registers, [0xA3A3, 7, 8])
        # 43/14: basic device identification, the firmware's (its revision
        # is the crate version).
        r = ok("fc43/14", c.read_device_information(read_code=1, object_id=0))
        objects = {k: bytes(v) for k, v in r.information.items()}
        check("fc43/14 objects 0 and 1", {k: objects.get(k) for k in (0, 1)},
              {0: b"Example Vendor", 1: b"MB-F767"})
        check("fc43/14 object 2 is a version",
              re.fullmatch(rb"\d+\.\d+\.\d+\S*", objects.get(2, b"")) is not None, True)
        # Exceptions: address out of the firmware's 128-register table.
        check("fc3 past the table -> exception 2",
              exception_code(c.read_holding_registers(120, count=10)), 2)
    finally:
        c.close()


def concurrent_clients():
    """CONCURRENT clients at once, each writing and reading back its own
    registers ROUNDS times; all must be connected at the same time."""
    errors = []
    connected = threading.Barrier(CONCURRENT, timeout=10)

    def worker(n):
        try:
            c = client()
            try:
                connected.wait()
                base = 40 + 10 * n  # 40..74: inside the 128 registers
                for i in range(ROUNDS):
                    values = [(n << 12) | (i + k) % 4096 for k in range(4)]
                    ok(f"client {n} fc16", c.write_registers(base, values))
                    r = ok(f"client {n} fc3", c.read_holding_registers(base, count=4))
                    if r.registers != values:
                        raise Failure(f"client {n} round {i}: wrote {values}, read {r.registers}")
            finally:
                c.close()
        except Exception as e:  # reported below, not swallowed
            errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    check("concurrent clients finished", [t.is_alive() for t in threads], [False] * CONCURRENT)
    check(f"{CONCURRENT} concurrent clients x {ROUNDS} write/read rounds: errors", errors, [])


def read_holding_raw(sock, transaction):
    """Raw FC3 of register 0, for the socket-level tests."""
    sock.sendall(struct.pack(">HHHBBHH", transaction, 0, 6, 1, 3, 0, 1))
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while len(data) < 11 and time.monotonic() < deadline:
        chunk = sock.recv(11 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def bad_quantity():
    """pymodbus refuses to send a bad quantity, so send it raw: read 2001
    coils -> exception 3."""
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    try:
        s.sendall(struct.pack(">HHHBBHH", 0x0303, 0, 6, 1, 1, 0, 2001))
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while len(data) < 9 and time.monotonic() < deadline:
            chunk = s.recv(9 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    check("fc1 2001 coils -> exception 3", data, struct.pack(">HHHBBB", 0x0303, 0, 3, 1, 0x81, 3))


def reset_mid_frame():
    """Half a frame, then a TCP reset (SO_LINGER 0); then a new client must
    be answered, several times (the reset socket must be free again)."""
    for attempt in range(CONCURRENT + 1):
        s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        frame = struct.pack(">HHHBBHH", 0x0101, 0, 6, 1, 3, 0, 1)
        s.sendall(frame[:7])
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # sends RST
    time.sleep(0.5)
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    try:
        got = read_holding_raw(s, 0x0202)
    finally:
        s.close()
    check("answer after resets mid-frame", got,
          struct.pack(">HHHBBBH", 0x0202, 0, 5, 1, 3, 2, VERSION_MARKER))


def stalled_mid_frame():
    """Half a frame and silence: the server closes within the frame timeout
    (5 s), and answers others meanwhile."""
    s = socket.create_connection((HOST, PORT), timeout=10)
    try:
        s.sendall(b"\x00\x01\x00\x00\x00\x06\x01")
        started = time.monotonic()
        other = client()
        try:
            r = ok("fc3 while another client stalls", other.read_holding_registers(0, count=1))
            check("answered while another client stalls", r.registers, [VERSION_MARKER])
        finally:
            other.close()
        try:
            data = s.recv(16)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - started
        check("stalled client closed without a reply", data, b"")
        check(f"closed after the 5 s frame timeout ({elapsed:.1f} s)", 4.5 <= elapsed <= 8.0, True)
    finally:
        s.close()


def main():
    try:
        function_codes()
        bad_quantity()
        concurrent_clients()
        reset_mid_frame()
        stalled_mid_frame()
    except Failure as e:
        print(f"FAIL {e}")
        return 1
    except Exception as e:
        print(f"FAIL unexpected {e!r}")
        return 1
    print("all pymodbus / socket checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
