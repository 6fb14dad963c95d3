"""One TLS connection attempt with Python's ssl (OpenSSL), for
tests/desktop_tls.rs: the handshake refusals, TLS versions and cipher suites.

Reads {host, port, ca, cert?, key?, min?, max?, ciphers?} as JSON on stdin;
`min`/`max` are ssl.TLSVersion names ("TLSv1_1", ...), `ciphers` an OpenSSL
cipher string. Connects, sends one Modbus read (FC 3, 1 register at 0,
unit 1) and reads the answer: with TLS 1.3 the server refuses a client
certificate only after the client's handshake ended. Prints one JSON line:
{"ok": true, "version", "cipher", "answer"} or {"ok": false, "error"}.
"""

import json
import socket
import ssl
import sys


def main():
    sc = json.load(sys.stdin)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(sc["ca"])
    if sc.get("cert"):
        ctx.load_cert_chain(sc["cert"], sc["key"])
    if sc.get("ciphers"):
        ctx.set_ciphers(sc["ciphers"])
    if sc.get("min"):
        ctx.minimum_version = getattr(ssl.TLSVersion, sc["min"])
    if sc.get("max"):
        ctx.maximum_version = getattr(ssl.TLSVersion, sc["max"])
    try:
        with socket.create_connection((sc["host"], sc["port"]), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=sc["host"]) as tls:
                version, cipher = tls.version(), tls.cipher()[0]
                tls.sendall(bytes([0, 7, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]))
                answer = tls.recv(260)
                if not answer:
                    raise ConnectionError("closed without an answer")
                result = {"ok": True, "version": version, "cipher": cipher, "answer": answer.hex()}
    except (OSError, ssl.SSLError, ConnectionError) as e:
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
