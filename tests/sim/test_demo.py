"""The demo starts on the embedded broker (no mosquitto needed) and stops cleanly."""

import re
import subprocess

import httpx

from tests.helpers import wait_for


def test_demo_runs_with_the_embedded_broker_and_stops_on_sigint(parkwatch_exe, tmp_path):
    log = tmp_path / "demo.out"
    with open(log, "w") as out:  # --port 0: the kernel picks; the demo prints its URLs
        proc = subprocess.Popen([parkwatch_exe, "demo", "--embedded-broker", "--port", "0"],
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        def said_port():
            if proc.poll() is not None:
                raise AssertionError(f"the demo exited ({proc.returncode}):\n{log.read_text()}")
            return re.search(r"incidents: +http://127\.0\.0\.1:(\d+)/api/incidents",
                             log.read_text())

        port = int(wait_for(said_port, 30, what="the demo's URLs").group(1))
        assert port != 0

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
        proc.wait(timeout=30)
    out = log.read_text()
    assert proc.returncode == 0, out
    assert "amqtt (embedded)" in out
    assert "Traceback" not in out


def test_the_demo_picks_a_zone_whose_business_hours_are_open():
    from datetime import datetime, timezone

    from simulators.demo import demo_zone

    def at(hour_utc):
        return datetime(2026, 12, 1, hour_utc, 30, tzinfo=timezone.utc).timestamp()

    assert demo_zone(at(4)) == ("Asia/Shanghai", True)  # 12:30 in Shanghai
    zone, open_now = demo_zone(at(16))  # 00:30 in Shanghai: closed there
    assert zone != "Asia/Shanghai" and open_now
    assert demo_zone(at(16), "Asia/Shanghai") == ("Asia/Shanghai", False)  # as asked


def test_a_demo_zone_that_does_not_exist_is_refused(parkwatch_exe):
    r = subprocess.run([parkwatch_exe, "demo", "--timezone", "Mars/Olympus"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "not a known time zone" in r.stderr
    assert "Traceback" not in r.stderr
