"""Issue 11 part 6, replayed: what a hostile device can make the agent's links do.

Real servers on port 0 (tests/security/hostile_devices.py). Each attack must end as a counted
failure of that one device, never as a stuck poll, a full memory or a read of the gateway's
files. The agent process, its files and its clock: tests/security/test_agent_limits.py.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest

from agent.links import MAX_REPLY_BYTES, LinkTimeout
from agent.net_links import HttpLink, TcpLink
from agent.profiles import Codec, DecodeError, load_named
from tests.security.hostile_devices import MB, FloodTcp, HostileCamera

DEVICE_INFO = "/ISAPI/System/deviceInfo"


def fetch_timed(link: HttpLink, path: str = DEVICE_INFO):
    t0 = time.monotonic()
    try:
        return link.fetch("GET", path), time.monotonic() - t0
    except (DecodeError, LinkTimeout) as e:
        return e, time.monotonic() - t0


def fetch_traced(cam) -> tuple[Exception | None, int]:
    """One poll of ``cam`` and the most memory Python held meanwhile."""
    link = HttpLink(cam.url, 10.0)
    tracemalloc.start()
    try:
        err, _ = fetch_timed(link)
        return err, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        link.close()


# --- HTTP: size ------------------------------------------------------------------------------

def test_a_camera_that_sends_100_mb_is_cut_off_at_the_cap():
    with HostileCamera("flood") as cam:
        err, peak = fetch_traced(cam)
        assert isinstance(err, DecodeError) and err.kind == "transport", err
        assert f"more than {MAX_REPLY_BYTES} bytes" in str(err)
        assert peak < 4 * MAX_REPLY_BYTES, f"{peak / MB:.1f} MB held while reading"
        # The agent hung up: the camera got nowhere near its 100 MB out.
        assert cam.most < 20 * MB, cam.most


def test_a_declared_100_mb_body_is_refused_before_it_is_read():
    with HostileCamera("declared") as cam:
        link = HttpLink(cam.url, 10.0)
        err, took = fetch_timed(link)
        link.close()
    assert isinstance(err, DecodeError) and "more than" in str(err)
    assert took < 2.0


def test_a_compressed_bomb_is_refused_not_inflated():
    with HostileCamera("gzip") as cam:
        err, peak = fetch_traced(cam)
    assert isinstance(err, DecodeError) and "'gzip'-encoded" in str(err)
    assert peak < 4 * MAX_REPLY_BYTES


# --- HTTP: time ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers"])
def test_a_camera_trickling_a_byte_a_second_cannot_hold_a_poll(mode):
    timeout_s = 1.5
    with HostileCamera(mode) as cam:
        link = HttpLink(cam.url, timeout_s)
        err, took = fetch_timed(link)
        link.close()
    assert isinstance(err, LinkTimeout), err
    # Per-read timeouts alone would let it run 600 s (every byte arrives within 1 s).
    assert took < timeout_s + 1.0, f"the poll took {took:.1f}s"


def test_the_deadline_is_per_fetch_so_the_next_poll_works():
    with HostileCamera("trickle_body") as cam:
        link = HttpLink(cam.url, 1.0)
        for _ in range(2):
            err, took = fetch_timed(link)
            assert isinstance(err, LinkTimeout) and took < 2.0
        link.close()
        assert cam.requests == 2


# --- XML ----------------------------------------------------------------------------------

def test_an_xml_bomb_is_refused_without_expanding_it():
    codec = Codec(load_named("lpr-isapi-http"))
    with HostileCamera("bomb") as cam:
        link = HttpLink(cam.url, 5.0)
        body = link.fetch("GET", DEVICE_INFO)
        link.close()
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(DecodeError, match="DTD or entity") as e:
            codec.decode_body(body, "device_info")
        took, peak = time.monotonic() - t0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.kind == "payload" and took < 1.0 and peak < 1 * MB


def test_an_external_entity_reads_no_file_of_the_gateway(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("TOPSECRET-gateway-key")
    codec = Codec(load_named("lpr-isapi-http"))
    with HostileCamera("xxe", secret) as cam:
        link = HttpLink(cam.url, 5.0)
        body = link.fetch("GET", DEVICE_INFO)
        link.close()
    with pytest.raises(DecodeError, match="DTD or entity") as e:
        codec.decode_body(body, "device_info")
    assert "TOPSECRET" not in str(e.value)


# --- TCP ----------------------------------------------------------------------------------

def test_a_tcp_device_flooding_the_line_is_cut_off_at_the_cap():
    profile = load_named("lpr-tcp-json")
    codec = Codec(profile)
    with FloodTcp() as dev:
        host, port = dev.address.split(":")
        link = TcpLink(host, int(port))
        frame = codec.request("status", None)
        t0 = time.monotonic()
        with pytest.raises(DecodeError, match=f"more than {MAX_REPLY_BYTES} bytes"):
            link.exchange(frame, profile.framing, lambda f: None, 30.0)
        took = time.monotonic() - t0
        link.close()
    assert took < 10.0  # the cap, not the 30 s timeout, ended it
