"""``parkwatch agent install-service``: write the systemd unit and a sample config."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path

UNIT_NAME = "parkwatch-agent.service"


def packaged(name: str) -> str:
    return resources.files("agent.packaging").joinpath(name).read_text(encoding="utf-8")


def parkwatch_exe() -> str:
    """The ``parkwatch`` being run now (a venv's script), so the unit starts the same one."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "parkwatch" and argv0.exists():
        return str(argv0.absolute())
    return shutil.which("parkwatch") or "/usr/local/bin/parkwatch"


def unit_text(exe: str) -> str:
    return packaged(UNIT_NAME).replace("@PARKWATCH@", exe)


def install(unit_dir: Path, config_dir: Path, exe: str, *, print_only: bool,
            out=sys.stdout) -> int:
    unit, sample = unit_text(exe), packaged("agent.toml")
    if print_only:
        out.write(f"# ---- {unit_dir / UNIT_NAME}\n{unit}\n"
                  f"# ---- {config_dir / 'agent.toml'} (sample)\n{sample}")
        return 0
    config = config_dir / "agent.toml"
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        _write(unit_dir / UNIT_NAME, unit, 0o644)
        out.write(f"wrote {unit_dir / UNIT_NAME}\n")
        config_dir.mkdir(parents=True, exist_ok=True)
        if config.exists():
            out.write(f"kept the existing {config}\n")
        else:
            _write(config, sample, 0o640)
            out.write(f"wrote a sample {config}: edit project, site, broker and devices\n")
    except OSError as e:
        print(f"parkwatch: cannot install: {e.strerror or e}: "
              f"{e.filename or ''} (run as root, or give --unit-dir/--config-dir)",
              file=sys.stderr)
        return 1
    out.write(f"then: systemctl daemon-reload && systemctl enable --now "
              f"{UNIT_NAME.removesuffix('.service')}\n")
    return 0


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
