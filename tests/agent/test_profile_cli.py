"""``parkwatch profile check`` and ``parkwatch profile decode`` as an engineer uses them."""

from __future__ import annotations

import subprocess

from agent.profiles import load_named


def run(exe, *args):
    return subprocess.run([exe, "profile", *args], capture_output=True, text=True, timeout=60)


def test_check_passes_every_shipped_profile(parkwatch_exe):
    proc = run(parkwatch_exe, "check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == 7 and "golden vectors" in proc.stdout


def test_check_prints_one_line_per_problem_and_fails(tmp_path, parkwatch_exe):
    good = load_named("bg-5b-xor").path
    text = good.read_text()
    wrong_vector = tmp_path / "wrong.toml"
    wrong_vector.write_text(text.replace('fault = "motor"\nseverity = "critical"',
                                         'fault = "motor"\nseverity = "minor"'))
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace('algorithm = "xor"', 'algorithm = "xnor"'))
    proc = run(parkwatch_exe, "check", str(good), str(wrong_vector), str(broken))
    assert proc.returncode == 1
    problems = proc.stderr.strip().splitlines()
    assert problems == [
        f"FAIL {wrong_vector}: golden[1] 'motor fault with the arm open': severity: "
        "expected 'minor', got 'critical'",
        f"FAIL {broken}: key 'framing.checksum.algorithm': must be one of xor, sum8, "
        "sum8_inverted, sum8_negated, crc16_modbus, crc16_ccitt, crc16_xmodem, crc16_kermit, "
        "none; got 'xnor'"]
    assert "Traceback" not in proc.stderr and proc.stdout.startswith("ok ")


def test_decode_shows_fields_and_state(parkwatch_exe):
    proc = run(parkwatch_exe, "decode", "bg-7e7f-invsum",
               "7F 01 51 04 00 01 01 01 2C 1A 00 EF 00 00 04 D3 00 1B")
    assert proc.returncode == 0, proc.stderr
    assert "state     fault  anti_crush (major)" in proc.stdout
    assert "supply_v          23.9" in proc.stdout and "occupied  A" in proc.stdout


def test_decode_of_a_bad_checksum_says_so_and_believes_nothing(parkwatch_exe):
    proc = run(parkwatch_exe, "decode", "bg-5b-xor", "5b:01:81:04:00:01:00:00:84:5d")
    assert proc.returncode == 1
    assert "error     checksum: checksum 84 does not match 85" in proc.stdout
    assert "fault" not in proc.stdout.split("error")[1].split("\n", 1)[1].replace(
        "nothing in a frame that does not decode is believed", "")


def test_decode_reads_ascii_lines_and_http_bodies_from_files(tmp_path, parkwatch_exe):
    proc = run(parkwatch_exe, "decode", "loop-ascii-4ch", "--text", r"$S,02,E,C,E,F*A4\r\n")
    assert proc.returncode == 0 and "state     fault  loop_failed (major)" in proc.stdout
    body = tmp_path / "status.xml"
    body.write_text("<WorkingStatus><devStatus>0</devStatus><ChanStatus><record>1</record>"
                    "<signal>1</signal></ChanStatus></WorkingStatus>")
    proc = run(parkwatch_exe, "decode", "lpr-isapi-http", str(body), "--reply",
               "working_status")
    assert proc.returncode == 0 and "video_loss (critical)" in proc.stdout
    proc = run(parkwatch_exe, "decode", "bg-5b-xor", "not hex")
    assert proc.returncode == 2 and "neither a file nor hex" in proc.stderr
