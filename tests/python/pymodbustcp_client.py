"""pyModbusTCP's client against the Rust server.

Run by tests/desktop_python.rs as `python3 pymodbustcp_client.py < scenario.json`.
The scenario (JSON on stdin) gives host, port, the server's initial values,
its device identification objects, the shared table of exception cases
(tests/common/exceptions.rs) and bare_port, a second server with the table's
preconditions (default data bank, no identification). Prints one line per check group and ends with
'N passed, N failed'; exits non-zero on any failure.
"""

import json
import sys

from pyModbusTCP.client import ModbusClient

from checks import Checks


def main():
    sc = json.load(sys.stdin)
    c = ModbusClient(host=sc["host"], port=sc["port"], unit_id=1, auto_open=True, timeout=5.0)
    t = Checks("pyModbusTCP")

    # FC 1, 2, 3, 4 on the server's initial values.
    t.eq("FC 3 initial", c.read_holding_registers(0, 5), sc["holding"])
    t.eq("FC 1 initial", c.read_coils(0, 4), sc["coils"])
    t.eq("FC 2 initial", c.read_discrete_inputs(0, 3), sc["discrete_inputs"])
    t.eq("FC 4 initial", c.read_input_registers(0, 3), sc["input_registers"])
    # FC 5, 15, 6, 16 and read back.
    t.eq("FC 5", c.write_single_coil(20, True), True)
    t.eq("FC 15", c.write_multiple_coils(21, [True, False, True, True, False, True, False, True, True]), True)
    t.eq("FC 1 back", c.read_coils(20, 10), [True, True, False, True, True, False, True, False, True, True])
    t.eq("FC 6", c.write_single_register(50, 0xABCD), True)
    words = [i * 3 for i in range(123)]
    t.eq("FC 16 (123 registers)", c.write_multiple_registers(100, words), True)
    t.eq("FC 3 back (125 registers)", c.read_holding_registers(99, 125), [0] + words + [0])
    t.eq("FC 3 single", c.read_holding_registers(50, 1), [0xABCD])
    # FC 23: written first, then read.
    t.eq("FC 23", c.write_read_multiple_registers(600, [7, 8, 9], 599, 5), [0, 7, 8, 9, 0])
    # FC 22 through a raw PDU: (0x12 AND 0xF2) OR (0x25 AND NOT 0xF2) = 0x17.
    c.write_single_register(4, 0x12)
    pdu = bytes([0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25])
    t.eq("FC 22 echo", c.custom_request(pdu), pdu)
    t.eq("FC 22 result", c.read_holding_registers(4, 1), [0x17])

    # The shared exception table, sent as raw PDUs to a second server with
    # the table's preconditions (default bank, no identification).
    bare = ModbusClient(host=sc["host"], port=sc["bare_port"], unit_id=1, auto_open=True, timeout=5.0)
    for case in sc["exceptions"]:
        pdu = bytes.fromhex(case["pdu"])
        got = bare.custom_request(pdu)
        t.eq(case["name"], (got, bare.last_except), (None, case["exception"]))
    t.eq("still connected after the table", bare.read_holding_registers(0, 1), [0])
    t.eq("one connection for the whole table", bare.is_open, True)
    bare.close()

    # Device identification: basic stream, then the extended stream page by page.
    basic = c.read_device_identification(read_code=1)
    t.ok("FC 43 basic answered", basic is not None)
    if basic is not None:
        t.eq("FC 43 basic objects", sorted(basic.objects_by_id), [0, 1, 2])
        t.eq("FC 43 conformity", basic.conformity_level, sc["conformity_level"])
    objects, next_id, pages = {}, 0, 0
    while pages < 10:
        pages += 1
        page = c.read_device_identification(read_code=3, object_id=next_id)
        if page is None:
            t.ok(f"FC 43 page {pages} answered", False)
            break
        objects.update(page.objects_by_id)
        if page.more_follows != 0xFF:
            break
        next_id = page.next_object_id
    expected = {int(k): bytes.fromhex(v) for k, v in sc["device_identification"].items()}
    t.eq("FC 43 extended stream", objects, expected)
    t.ok(f"FC 43 paged ({pages} pages)", pages >= 2)
    single = c.read_device_identification(read_code=4, object_id=0x80)
    t.eq("FC 43 individual", single and single.objects_by_id, {0x80: expected[0x80]})

    c.close()
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
