#!/usr/bin/env python3
"""The firmware's Modbus RTU on UART0 (examples/firmware, board mps2-an386,
feature rtu, unit 1 at a nominal 2,400 baud) through QEMU's `-serial pty`,
with its Modbus TCP port forwarded to 127.0.0.1:TCP_PORT in the same boot
(the same service behind both):

- pymodbus's serial client (RTU framer) reads and writes registers and
  coils, and gets an exception past the table;
- raw frames (pyserial): a request with a wrong CRC gets no answer, one for
  another unit gets no answer, a broadcast write gets no answer but is
  applied (read back over RTU and over TCP);
- with --bench N: N reads in a row, requests per second and latency
  percentiles (under emulation: illustrative only).

Run by ci/qemu-serial.sh:

    target/venv/bin/python3 tests/python/firmware_rtu.py /dev/pts/N TCP_PORT [--bench N]

Every wait is bounded (serial timeouts, pymodbus timeouts and retries).
"""

import os
import sys
import time

import serial
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

PTY = sys.argv[1]
TCP_PORT = int(sys.argv[2])
BENCH = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--bench" else 0
BAUD = 2400  # examples/firmware/src/rtu_cmsdk.rs
UNIT = 1
# Longer than the firmware's t3.5 (16 ms at 2,400 baud) with margin: the
# silence that separates two frames on the line.
GAP = 0.1
NO_ANSWER_WAIT = 0.6


def crc16(data):
    """Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), low
    byte first on the wire (Modbus over serial line, 6.2.2)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def frame(body):
    return body + crc16(body)


def exchange(port, request, want):
    """Sends `request` after a silence, reads up to `want` bytes (bounded by
    the port's timeout)."""
    time.sleep(GAP)
    port.reset_input_buffer()
    port.write(request)
    port.flush()
    return port.read(want)


def raw_checks(checks):
    with serial.Serial(PTY, BAUD, timeout=NO_ANSWER_WAIT) as port:
        read_hr0 = frame(bytes([UNIT, 0x03, 0x00, 0x00, 0x00, 0x01]))
        answer = exchange(port, read_hr0, 7)
        checks.eq("raw fc3 holding 0", answer, frame(bytes([UNIT, 0x03, 0x02, 0x01, 0x00])))

        bad_crc = bytearray(read_hr0)
        bad_crc[-1] ^= 0xFF
        checks.eq("raw frame with a wrong CRC: no answer", exchange(port, bytes(bad_crc), 7), b"")

        other_unit = frame(bytes([UNIT + 1, 0x03, 0x00, 0x00, 0x00, 0x01]))
        checks.eq("raw frame for unit 2: no answer", exchange(port, other_unit, 7), b"")

        # Broadcast (address 0) FC 6: holding 120 = 0x1234, never answered.
        broadcast = frame(bytes([0x00, 0x06, 0x00, 120, 0x12, 0x34]))
        checks.eq("raw broadcast fc6: no answer", exchange(port, broadcast, 8), b"")
        read_120 = frame(bytes([UNIT, 0x03, 0x00, 120, 0x00, 0x01]))
        checks.eq(
            "broadcast write read back over RTU",
            exchange(port, read_120, 7),
            frame(bytes([UNIT, 0x03, 0x02, 0x12, 0x34])),
        )

        # The line still works after all that.
        checks.eq("raw fc3 again", exchange(port, read_hr0, 7), frame(bytes([UNIT, 0x03, 0x02, 0x01, 0x00])))


def pymodbus_checks(checks):
    client = ModbusSerialClient(port=PTY, framer=FramerType.RTU, baudrate=BAUD, timeout=1, retries=1)
    checks.ok("pymodbus serial connect", client.connect())
    try:
        r = client.read_holding_registers(0, count=1, device_id=UNIT)
        checks.eq("pymodbus fc3 holding 0 (version marker)", getattr(r, "registers", None), [0x0100])
        r = client.write_register(110, 4242, device_id=UNIT)
        checks.ok("pymodbus fc6 holding 110 = 4242", not r.isError(), str(r))
        r = client.write_registers(111, [11, 12, 13], device_id=UNIT)
        checks.ok("pymodbus fc16 holding 111..113", not r.isError(), str(r))
        r = client.read_holding_registers(110, count=4, device_id=UNIT)
        checks.eq("pymodbus fc3 holding 110..113", getattr(r, "registers", None), [4242, 11, 12, 13])
        r = client.write_coils(210, [True, False, True], device_id=UNIT)
        checks.ok("pymodbus fc15 coils 210..212", not r.isError(), str(r))
        r = client.read_coils(210, count=3, device_id=UNIT)
        checks.eq("pymodbus fc1 coils 210..212", getattr(r, "bits", [None] * 3)[:3], [True, False, True])
        r = client.read_input_registers(0, count=3, device_id=UNIT)
        checks.ok(
            "pymodbus fc4 input 0..2 (uptime, ticks)",
            not r.isError() and len(r.registers) == 3 and r.registers[2] > 0,
            str(r),
        )
        r = client.read_holding_registers(127, count=2, device_id=UNIT)
        checks.ok(
            "pymodbus fc3 past the table -> exception 2",
            r.isError() and getattr(r, "exception_code", None) == 2,
            str(r),
        )
        if BENCH:
            bench(client, checks)
    finally:
        client.close()


def bench(client, checks):
    latencies = []
    errors = 0
    deadline = time.monotonic() + 60
    start = time.monotonic()
    for _ in range(BENCH):
        if time.monotonic() > deadline:
            break
        t0 = time.monotonic()
        r = client.read_holding_registers(0, count=10, device_id=UNIT)
        latencies.append(time.monotonic() - t0)
        errors += r.isError()
    elapsed = time.monotonic() - start
    latencies.sort()
    n = len(latencies)
    checks.ok(f"bench: {n} RTU reads without error", n == BENCH and errors == 0, f"{errors} errors")
    if n:
        p50 = latencies[n // 2] * 1000
        p99 = latencies[min(n - 1, (n * 99) // 100)] * 1000
        print(
            f"bench (RTU through the PTY, pymodbus fc3 x10 regs): {n / elapsed:.0f} req/s, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        )


def tcp_checks(checks):
    client = ModbusTcpClient("127.0.0.1", port=TCP_PORT, timeout=2, retries=1)
    checks.ok("pymodbus tcp connect", client.connect())
    try:
        r = client.read_holding_registers(110, count=4, device_id=UNIT)
        checks.eq("RTU writes read back over TCP", getattr(r, "registers", None), [4242, 11, 12, 13])
        r = client.read_holding_registers(120, count=1, device_id=UNIT)
        checks.eq("RTU broadcast read back over TCP", getattr(r, "registers", None), [0x1234])
        r = client.write_register(125, 31337, device_id=UNIT)
        checks.ok("tcp fc6 holding 125", not r.isError(), str(r))
    finally:
        client.close()
    with serial.Serial(PTY, BAUD, timeout=NO_ANSWER_WAIT) as port:
        read_125 = frame(bytes([UNIT, 0x03, 0x00, 125, 0x00, 0x01]))
        checks.eq(
            "TCP write read back over RTU",
            exchange(port, read_125, 7),
            frame(bytes([UNIT, 0x03, 0x02, 31337 >> 8, 31337 & 0xFF])),
        )


def main():
    checks = Checks("firmware-rtu")
    pymodbus_checks(checks)
    raw_checks(checks)
    tcp_checks(checks)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
