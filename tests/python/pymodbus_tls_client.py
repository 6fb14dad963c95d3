"""pymodbus's TLS client (Modbus/TCP Security) against the Rust server.

Run by tests/desktop_tls.rs as `python3 pymodbus_tls_client.py < scenario.json`:
{host, port, ca, cert, key, role}. The client verifies the server against
`ca` and presents `cert`/`key`. An "operator" reads and writes; a "viewer"
reads, and its writes get exception 1 (illegal function) with the
registers unchanged. Prints failures and a summary; non-zero exit on any.
"""

import json
import ssl
import sys

from pymodbus.client import ModbusTlsClient

from checks import Checks


def main():
    sc = json.load(sys.stdin)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # pymodbus's sync client wraps its socket without a server name: the
    # server's certificate is still verified against the CA, not its name.
    ctx.check_hostname = False
    ctx.load_verify_locations(sc["ca"])
    ctx.load_cert_chain(sc["cert"], sc["key"])
    c = ModbusTlsClient(sc["host"], port=sc["port"], sslctx=ctx, timeout=5, retries=0)
    t = Checks(f"pymodbus TLS {sc['role']}")
    t.ok("connect", c.connect())
    rr = c.read_holding_registers(0, count=3)
    t.eq("FC 3", None if rr.isError() else list(rr.registers), [100, 200, 300])
    rr = c.read_coils(0, count=2)
    t.eq("FC 1", None if rr.isError() else list(rr.bits[:2]), [True, False])
    if sc["role"] == "operator":
        t.ok("FC 6", not c.write_register(1, 4321).isError())
        t.ok("FC 16", not c.write_registers(10, [1, 2, 3]).isError())
        t.ok("FC 5", not c.write_coil(1, True).isError())
        rr = c.read_holding_registers(0, count=3)
        t.eq("FC 3 back", None if rr.isError() else list(rr.registers), [100, 4321, 300])
    else:
        rr = c.write_register(1, 4321)
        t.eq("FC 6 denied", rr.exception_code if rr.isError() else None, 1)
        rr = c.write_coil(1, True)
        t.eq("FC 5 denied", rr.exception_code if rr.isError() else None, 1)
        rr = c.read_holding_registers(0, count=3)
        t.eq("FC 3 unchanged", None if rr.isError() else list(rr.registers), [100, 200, 300])
    c.close()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
