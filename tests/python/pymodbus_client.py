"""pymodbus's client against the Rust server.

Run by tests/desktop_python.rs as `python3 pymodbus_client.py < scenario.json`
(the scenario is described in pymodbustcp_client.py). Prints failures and a
'N passed, N failed' line; exits non-zero on any failure.
"""

import json
import sys

from pymodbus.client import ModbusTcpClient

from checks import Checks


def bits(rr, n):
    """The first n bits of a read response (pymodbus pads to whole bytes)."""
    return None if rr.isError() else list(rr.bits[:n])


def regs(rr):
    return None if rr.isError() else list(rr.registers)


def exception(rr):
    return rr.exception_code if rr.isError() else None


def main():
    sc = json.load(sys.stdin)
    c = ModbusTcpClient(sc["host"], port=sc["port"], timeout=5, retries=0)
    t = Checks("pymodbus")
    t.ok("connect", c.connect())

    # FC 1, 2, 3, 4 on the server's initial values.
    t.eq("FC 3 initial", regs(c.read_holding_registers(0, count=5)), sc["holding"])
    t.eq("FC 1 initial", bits(c.read_coils(0, count=4), 4), sc["coils"])
    t.eq("FC 2 initial", bits(c.read_discrete_inputs(0, count=3), 3), sc["discrete_inputs"])
    t.eq("FC 4 initial", regs(c.read_input_registers(0, count=3)), sc["input_registers"])
    # FC 5, 15, 6, 16, 22, 23.
    t.ok("FC 5", not c.write_coil(30, True).isError())
    pattern = [True, False, False, True, True, False, True, True, False, True, False]
    t.ok("FC 15", not c.write_coils(31, pattern).isError())
    t.eq("FC 1 back", bits(c.read_coils(30, count=12), 12), [True] + pattern)
    t.eq("FC 1 (2000 coils)", len(bits(c.read_coils(0, count=2000), 2000) or []), 2000)
    t.ok("FC 6", not c.write_register(60, 0x1234).isError())
    words = [65535 - i for i in range(123)]
    t.ok("FC 16", not c.write_registers(300, words).isError())
    t.eq("FC 3 back", regs(c.read_holding_registers(300, count=123)), words)
    c.write_register(4, 0x12)
    t.ok("FC 22", not c.mask_write_register(address=4, and_mask=0xF2, or_mask=0x25).isError())
    t.eq("FC 22 result", regs(c.read_holding_registers(4, count=1)), [0x17])
    rr = c.readwrite_registers(read_address=499, read_count=4, write_address=500, values=[5, 6])
    t.eq("FC 23", regs(rr), [0, 5, 6, 0])

    # Exceptions through the typed API.
    t.eq("FC 3 past the end", exception(c.read_holding_registers(0xFFFF, count=2)), 2)
    t.eq("FC 4 past the end", exception(c.read_input_registers(0xFFF0, count=17)), 2)
    t.eq("FC 1 past the end", exception(c.read_coils(0xFFFF, count=2)), 2)
    t.eq("FC 16 past the end", exception(c.write_registers(0xFFFF, [1, 2])), 2)
    t.eq("FC 23 read range past the end",
         exception(c.readwrite_registers(read_address=0xFFFF, read_count=2, write_address=0, values=[1])), 2)
    t.eq("FC 23 wrote nothing on a bad read range", regs(c.read_holding_registers(0, count=1)), sc["holding"][:1])

    # Device identification: the extended stream, page by page.
    objects, next_id, pages = {}, 0, 0
    while pages < 10:
        pages += 1
        rr = c.read_device_information(read_code=3, object_id=next_id)
        if rr.isError():
            t.ok(f"FC 43 page {pages}", False, f"exception {rr.exception_code}")
            break
        objects.update(rr.information)
        if not rr.more_follows:
            break
        next_id = rr.next_object_id
    expected = {int(k): bytes.fromhex(v) for k, v in sc["device_identification"].items()}
    t.eq("FC 43 extended stream", objects, expected)
    t.ok(f"FC 43 paged ({pages} pages)", pages >= 2)
    rr = c.read_device_information(read_code=1, object_id=0)
    t.eq("FC 43 basic", None if rr.isError() else sorted(rr.information), [0, 1, 2])
    rr = c.read_device_information(read_code=4, object_id=0x80)
    t.eq("FC 43 individual", None if rr.isError() else dict(rr.information), {0x80: expected[0x80]})

    c.close()
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
