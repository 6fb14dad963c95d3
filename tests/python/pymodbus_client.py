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

    # FC 8, 11, 17: the server's counters (every connection), cleared first.
    diag(t, c, sc)
    # FC 20, 21, 24: files 1..=3 of 100 records, a queue at 1246.
    files_and_fifo(t, c)

    c.close()
    sys.exit(t.finish())


def diag(t, c, sc):
    """Diagnostics (FC 8), get comm event counter (FC 11), report server id (FC 17)."""
    def message(rr):
        return None if rr.isError() else rr.message

    t.eq("FC 8 return query data", message(c.diag_query_data(b"\xA5\x37")), b"\xA5\x37")
    t.ok("FC 8 clear counters", not c.diag_clear_counters().isError())
    # Counted on arrival: a counter read counts itself; the clear is not counted.
    t.eq("FC 8 bus message count", message(c.diag_read_bus_message_count()), 1)
    t.eq("FC 3 past the end (counted)", exception(c.read_holding_registers(0xFFFF, count=2)), 2)
    t.eq("FC 8 bus exception error count", message(c.diag_read_bus_exception_error_count()), 1)
    t.eq("FC 8 server message count", message(c.diag_read_device_message_count()), 4)
    t.eq("FC 8 bus communication error count (no CRC on TCP)", message(c.diag_read_bus_comm_error_count()), 0)
    t.eq("FC 8 bus character overrun count", message(c.diag_read_bus_char_overrun_count()), 0)
    t.eq("FC 8 server no response count", message(c.diag_read_device_no_response_count()), 0)
    t.eq("FC 8 server NAK count", message(c.diag_read_device_nak_count()), 0)
    t.eq("FC 8 server busy count", message(c.diag_read_device_busy_count()), 0)
    t.eq("FC 8 listen only mode is not served", exception(c.diag_force_listen_only(no_response_expected=False)), 1)
    # Normal responses since the clear: the eight counter reads (not the exceptions).
    rr = c.diag_get_comm_event_counter()
    t.eq("FC 11 event count", None if rr.isError() else (rr.status, rr.count), (True, 8))
    rr = c.diag_get_comm_event_counter()
    t.eq("FC 11 does not count itself", None if rr.isError() else rr.count, 8)
    t.ok("FC 8 restart communications", not c.diag_restart_communication(True).isError())
    rr = c.diag_get_comm_event_counter()
    t.eq("FC 11 after a restart", None if rr.isError() else rr.count, 0)
    rr = c.report_device_id()
    t.eq("FC 17 report server id",
         None if rr.isError() else (rr.identifier, rr.status),
         (bytes.fromhex(sc["server_id"]), True))


def files_and_fifo(t, c):
    """Write / read file record (FC 21 / 20) and read FIFO queue (FC 24)."""
    from pymodbus.pdu.file_message import FileRecord

    # pymodbus takes record_length in bytes (two per record).

    written = FileRecord(file_number=2, record_number=7, record_data=b"\x06\xaf\x04\xbe\x10\x0d")
    t.ok("FC 21 write file record", not c.write_file_record([written]).isError())
    rr = c.read_file_record([
        FileRecord(file_number=2, record_number=7, record_length=6),
        FileRecord(file_number=3, record_number=99, record_length=2),
    ])
    t.eq("FC 20 read file record (two groups)",
         None if rr.isError() else [r.record_data for r in rr.records],
         [b"\x06\xaf\x04\xbe\x10\x0d", b"\x00\x00"])
    rr = c.read_file_record([FileRecord(file_number=2, record_number=99, record_length=4)])
    t.eq("FC 20 past the end of a file", exception(rr), 2)
    rr = c.read_file_record([FileRecord(file_number=4, record_number=0, record_length=2)])
    t.eq("FC 20 file 4 of 3", exception(rr), 2)
    rr = c.read_fifo_queue(address=1246)
    t.eq("FC 24 read FIFO queue", None if rr.isError() else list(rr.values), [440, 4740])
    rr = c.read_fifo_queue(address=0)
    t.eq("FC 24 count 100 > 31", exception(rr), 3)


if __name__ == "__main__":
    main()
