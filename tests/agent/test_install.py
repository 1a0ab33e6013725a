"""``parkwatch agent install-service``: the unit and sample config, printed or written."""

import shutil
import subprocess
from pathlib import Path

import pytest

from agent import config as agent_config
from agent.install import packaged

ROOT = Path(__file__).resolve().parents[2]


def unit_settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_is_a_notify_service_with_a_watchdog_that_may_open_serial_ports():
    s = unit_settings(packaged("parkwatch-agent.service"))
    assert s["Type"] == ["notify"] and s["Restart"] == ["always"]
    assert s["WatchdogSec"] and s["StateDirectory"] == ["parkwatch"]
    assert s["SupplementaryGroups"] == ["dialout"] and s["NoNewPrivileges"] == ["yes"]
    assert "ProtectProc" not in s and "PrivateDevices" not in s  # processes, serial ports
    assert s["ExecStart"] == ["@PARKWATCH@ agent run --config /etc/parkwatch/agent.toml"]


def test_print_writes_nothing(tmp_path, parkwatch_exe):
    proc = subprocess.run([parkwatch_exe, "agent", "install-service", "--print",
                           "--unit-dir", str(tmp_path / "u"), "--config-dir",
                           str(tmp_path / "c")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert f"ExecStart={parkwatch_exe} agent run" in proc.stdout
    assert 'project = "yl-001"' in proc.stdout
    assert not (tmp_path / "u").exists() and not (tmp_path / "c").exists()


def test_install_writes_the_unit_and_keeps_an_existing_config(tmp_path, parkwatch_exe):
    args = [parkwatch_exe, "agent", "install-service", "--unit-dir", str(tmp_path / "u"),
            "--config-dir", str(tmp_path / "c"), "--exec", "/opt/parkwatch/bin/parkwatch"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    unit = (tmp_path / "u" / "parkwatch-agent.service").read_text()
    assert "ExecStart=/opt/parkwatch/bin/parkwatch agent run" in unit
    sample = tmp_path / "c" / "agent.toml"
    assert agent_config.load(sample).project == "yl-001"  # the sample is a valid config
    sample.write_text("# the operator's own\n")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "kept the existing" in proc.stdout
    assert sample.read_text() == "# the operator's own\n"


def test_a_place_it_cannot_write_is_one_line_not_a_traceback(tmp_path, parkwatch_exe):
    (tmp_path / "file").write_text("")
    proc = subprocess.run([parkwatch_exe, "agent", "install-service", "--unit-dir",
                           str(tmp_path / "file" / "sub")], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path, parkwatch_exe):
    subprocess.run([parkwatch_exe, "agent", "install-service", "--unit-dir", str(tmp_path),
                    "--config-dir", str(tmp_path / "c"), "--exec", "/bin/true"],
                   check=True, capture_output=True, timeout=30)
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path /
                                                             "parkwatch-agent.service")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "parkwatch-agent.service" not in proc.stderr, proc.stderr


def test_the_packaged_sample_and_the_docs_sample_agree_on_the_new_tables():
    for text in (packaged("agent.toml"), (ROOT / "docs/configs/agent.toml").read_text()):
        assert "[outbox]" in text and "[mqtt]" in text and "[[processes]]" in text
