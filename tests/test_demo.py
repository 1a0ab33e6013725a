"""The demo starts on the embedded broker (no mosquitto needed) and stops cleanly."""

import subprocess

import httpx

from simulators.broker import free_port
from tests.helpers import wait_for


def test_demo_runs_with_the_embedded_broker_and_stops_on_sigint(parkwatch_exe):
    port = free_port()
    proc = subprocess.Popen([parkwatch_exe, "demo", "--embedded-broker", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def both_sites_ok():
            try:
                sites = httpx.get(f"http://127.0.0.1:{port}/api/sites", timeout=2).json()
            except httpx.HTTPError:
                return False
            return sorted(s["site"] for s in sites if s["devices"] and
                          s["devices"][0]["state"] == "ok") == ["lot-a", "lot-b"]

        wait_for(both_sites_ok, 30, 0.2, what="both demo sites to report ok")
    finally:
        proc.send_signal(subprocess.signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "amqtt (embedded)" in out and f"http://127.0.0.1:{port}/api/incidents" in out
    assert "Traceback" not in out
