"""The command line as a user meets it first: --help, --version, -v anywhere, a closed pipe."""

from __future__ import annotations

import subprocess
from importlib.metadata import version


def test_help_is_plain_text_and_whole(parkwatch_exe):
    out = subprocess.run([parkwatch_exe, "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "``" not in out  # no reStructuredText markup from a docstring
    assert "collector" in out and "agent" in out


def test_version_is_the_package_version(parkwatch_exe):
    out = subprocess.run([parkwatch_exe, "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"parkwatch {version('parkwatch')}"


def test_verbose_may_follow_the_subcommand(parkwatch_exe, tmp_path):
    # docs/agent.md writes `parkwatch agent run --config … -v`; a missing file is then the
    # config error (exit 2), not argparse refusing -v.
    r = subprocess.run([parkwatch_exe, "agent", "run", "--config", str(tmp_path / "no.toml"),
                        "-v"], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "unrecognized arguments" not in r.stderr


def test_a_reader_that_goes_away_gets_no_traceback(parkwatch_exe):
    proc = subprocess.Popen([parkwatch_exe, "profile", "check"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head` exiting before the first line
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
