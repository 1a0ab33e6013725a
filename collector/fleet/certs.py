"""A small CA and a server certificate for the broker's TLS listener (the openssl command).

For tests and small fleets: the CA's certificate goes to every agent (``[mqtt] ca_file``)
and to the collector; its key stays with the operator (``ca.key``, mode 0600). A fleet
with its own PKI passes ``--cafile/--certfile/--keyfile`` instead.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import tempfile
from pathlib import Path

from collector.fleet.brokerconf import write_private
from parkwatch.core.conf import UserError

DAYS = 825  # what clients accept for a server certificate
CA_DAYS = 3650


def _openssl(*args: str) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise UserError("--make-certs needs the openssl command (apt-get install openssl); "
                        "or give --cafile, --certfile and --keyfile of your own")
    done = subprocess.run([exe, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"openssl {args[0]} failed: {done.stderr.strip()[-300:]}")


def _san(hosts: list[str]) -> str:
    names = []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
        except ValueError:
            names.append(f"DNS:{h}")
        else:
            names.append(f"IP:{h}")
    return ",".join(names)


def make(out: Path, hosts: list[str]) -> tuple[Path, Path, Path, bool]:
    """(ca.crt, server.crt, server.key, made): made False when they existed already (kept,
    so agents that trust the CA keep trusting it)."""
    ca_crt, ca_key = out / "ca.crt", out / "ca.key"
    crt, key = out / "server.crt", out / "server.key"
    if all(p.is_file() for p in (ca_crt, ca_key, crt, key)):
        return ca_crt, crt, key, False
    if not hosts or any(not h.strip() for h in hosts):
        raise UserError("--make-certs needs the broker's host names or addresses, e.g. "
                        "--make-certs broker.example.com,10.0.0.5")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        if not (ca_crt.is_file() and ca_key.is_file()):
            _openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-sha256",
                     "-days", str(CA_DAYS), "-subj", "/CN=parkwatch broker CA",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                     "-keyout", str(t / "ca.key"), "-out", str(t / "ca.crt"))
            write_private(ca_key, (t / "ca.key").read_text(), owner=None)
            ca_crt.write_text((t / "ca.crt").read_text())
        ext = t / "ext.cnf"
        ext.write_text(f"subjectAltName={_san(hosts)}\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256",
                 "-subj", f"/CN={hosts[0]}", "-keyout", str(t / "server.key"),
                 "-out", str(t / "server.csr"))
        _openssl("x509", "-req", "-in", str(t / "server.csr"), "-CA", str(ca_crt),
                 "-CAkey", str(ca_key), "-CAcreateserial", "-days", str(DAYS), "-sha256",
                 "-extfile", str(ext), "-out", str(t / "server.crt"))
        write_private(key, (t / "server.key").read_text())  # mosquitto's, when we are root
        crt.write_text((t / "server.crt").read_text())
    return ca_crt, crt, key, True
