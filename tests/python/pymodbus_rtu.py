"""pymodbus's RTU framer against the Rust server: on TCP (RTU over TCP) or
on a serial line (a PTY of a socat pair).

Run by tests/rtu_tcp.rs and tests/rtu_serial.rs as
    python3 pymodbus_rtu.py tcp HOST PORT UNIT
    python3 pymodbus_rtu.py serial DEVICE BAUD UNIT
against a server whose holding registers 0..5 are 100, 200, 300, 400, 500.
Prints failures and a 'N passed, N failed' line; exits non-zero on any
failure.
"""

import sys
import time

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from checks import Checks


def regs(rr):
    return None if rr.isError() else list(rr.registers)


def bits(rr, n):
    return None if rr.isError() else list(rr.bits[:n])


def main():
    mode = sys.argv[1]
    unit = int(sys.argv[4])
    if mode == "tcp":
        c = ModbusTcpClient(sys.argv[2], port=int(sys.argv[3]), framer=FramerType.RTU,
                            timeout=3, retries=0)
    else:
        c = ModbusSerialClient(sys.argv[2], framer=FramerType.RTU, baudrate=int(sys.argv[3]),
                               timeout=1, retries=0)
    t = Checks(f"pymodbus rtu {mode}")
    t.ok("connect", c.connect())
    u = {"device_id": unit}

    t.eq("FC 3 initial", regs(c.read_holding_registers(0, count=5, **u)), [100, 200, 300, 400, 500])
    t.ok("FC 6", not c.write_register(60, 0x1234, **u).isError())
    t.eq("FC 3 after FC 6", regs(c.read_holding_registers(60, count=1, **u)), [0x1234])
    words = [65535 - i for i in range(123)]
    t.ok("FC 16 (123 registers)", not c.write_registers(300, words, **u).isError())
    t.eq("FC 3 (a 255-byte frame)", regs(c.read_holding_registers(300, count=123, **u)), words)
    t.ok("FC 5", not c.write_coil(30, True, **u).isError())
    pattern = [True, False, False, True, True, False, True, True, False, True, False]
    t.ok("FC 15", not c.write_coils(31, pattern, **u).isError())
    t.eq("FC 1", bits(c.read_coils(30, count=12, **u), 12), [True] + pattern)
    rr = c.readwrite_registers(read_address=499, read_count=4, write_address=500, values=[5, 6], **u)
    t.eq("FC 23", regs(rr), [0, 5, 6, 0])
    rr = c.read_holding_registers(0xFFFF, count=2, **u)
    t.eq("FC 3 past the end: exception 2", rr.exception_code if rr.isError() else None, 2)
    rr = c.diag_read_bus_comm_error_count(**u)
    t.eq("FC 8 0x0C: no CRC error yet", None if rr.isError() else rr.message, 0)

    # Broadcast: executed, not answered.
    c.write_register(70, 0x55, device_id=0, no_response_expected=True)
    time.sleep(0.1)
    t.eq("broadcast FC 6 executed", regs(c.read_holding_registers(70, count=1, **u)), [0x55])

    if mode == "serial":
        # Another server's address: no answer on the line.
        try:
            answered = not c.read_holding_registers(0, count=1, device_id=unit + 1).isError()
        except ModbusIOException:
            answered = False
        t.ok("another address is not answered", not answered)
        t.eq("and the line still works", regs(c.read_holding_registers(0, count=1, **u)), [100])
    c.close()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
