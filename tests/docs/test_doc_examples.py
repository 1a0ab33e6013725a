"""Every example in README.md and docs/ runs, or says why it cannot.

- a TOML block that is a whole scenario, agent or collector config is loaded by the
  program's own reader (an unknown key is an error there); a fragment is loaded inside a
  minimal file of its kind, or, for the firmware-profile reference (alternatives side by
  side), every key it names must be one the profile reader takes;
- a JSON block of a wire message decodes; any other JSON block parses;
- every ``parkwatch ...`` command line names a command and flags that exist;
- every key the config, scenario and profile readers take is named in the docs.

A block that cannot run says so on the line before it: ``<!-- not runnable: why -->``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import tomllib

from agent import config as agent_config
from collector import config as collector_config
from parkwatch.cli import build_parser
from parkwatch.core import wire
from simulators.scenario import spec

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?:^(<!-- not runnable: [^\n]+?-->)\n)?^```(\w*)\n(.*?)^```", re.S | re.M)
MINIMAL_COLLECTOR = 'broker = "mqtt://127.0.0.1:9"\ndatabase = "{db}"\n'
MINIMAL_AGENT = ('project = "P001"\nsite = "S01"\nbroker = "mqtt://127.0.0.1:9"\n'
                 'state_dir = "{state}"\n')
MINIMAL_SCENARIO = ('start = "2026-01-01T00:00:00+08:00"\nend = "2027-01-01T00:00:00+08:00"\n'
                    '[[project]]\nid = "P001"\nsites = ["S01", "S02"]\n'
                    'devices = ["gate-1", "gate-in", "loop-1", "camera-1"]\n')
# Tables whose keys are data (names of projects, zones, device classes, frame fields).
MAP_TABLES = {"project_timezones", "device_classes", "match", "enum", "projects", "groups",
              "responders", "requests", "replies", "severities", "fields"}


def blocks(lang: str) -> list:
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            if m.group(2) == lang:
                line = text[:m.start()].count("\n") + 1
                out.append(pytest.param(m.group(3), m.group(1), id=f"{page.name}:{line}"))
    return out


def _code_keys(paths, broad: bool) -> set[str]:
    """The keys a reader asks its sections for (``broad``: any ``f(section, "key")`` call
    too, which over-counts but never misses a key)."""
    narrow = (r'\.(?:str|number|int|bool|choice|table|tables|strs|_raw)\(\s*"([a-z_][a-z0-9_]*)"'
              r'|"([a-z_][a-z0-9_]*)" in \w+\.data')
    pat = re.compile(narrow + (r'|\(\s*\w+,\s*"([a-z_][a-z0-9_]*)"' if broad else ""))
    keys = set()
    for p in paths:
        for m in pat.finditer(Path(p).read_text()):
            keys |= {g for g in m.groups() if g}
    return keys


PROFILE_CODE = sorted((ROOT / "agent" / "profiles").glob("*.py"))
CONFIG_CODE = [ROOT / p for p in ("agent/config.py", "collector/config.py",
                                   "collector/workflow/config.py",
                                   "collector/tracking/plausible.py")]
SCENARIO_CODE = [ROOT / p for p in ("simulators/scenario/spec.py",
                                     "simulators/scenario/workflow.py",
                                     "collector/workflow/responders.py")]


def leaf_keys(data: dict, names: bool = False) -> set[str]:
    """The keys a TOML fragment uses; ``names``: this table's keys are names the user
    chooses (a map), so only what lies inside them counts."""
    keys = set()
    for k, v in data.items():
        if not names:
            keys.add(k)
        if isinstance(v, dict):
            keys |= leaf_keys(v, names=k in MAP_TABLES and not names)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                keys |= leaf_keys(x)
    return keys


def _chunks(text: str) -> list[dict]:
    """A reference that shows alternatives side by side (the same table twice): each
    table on its own."""
    try:
        return [tomllib.loads(text)]
    except tomllib.TOMLDecodeError:
        parts = re.split(r"(?m)^(?=\[)", text)
        return [tomllib.loads(p) for p in parts if p.strip()]


def load_toml_example(text: str, tmp_path: Path) -> None:
    parts = _chunks(text)
    data = {k: v for p in parts for k, v in p.items()}
    path = tmp_path / "example.toml"
    if "start" in data and "end" in data:  # a whole scenario
        path.write_text(text)
        spec.load(path)
    elif {"responders", "event", "manual_incident", "common_problem"} & set(data):
        path.write_text(MINIMAL_SCENARIO + text)  # scenario keys: inside a minimal one
        spec.load(path)
    elif "format" in data or {"framing", "requests", "replies", "state", "golden",
                               "address"} & set(data):
        unknown = set().union(*map(leaf_keys, parts)) - _code_keys(PROFILE_CODE, broad=True)
        assert not unknown, f"profile keys no reader takes: {sorted(unknown)}"
    elif "devices" in data or "project" in data:  # the agent's
        body = text if "project" in data else MINIMAL_AGENT.format(state=tmp_path) + text
        path.write_text(body)
        agent_config.load(path)
    else:  # the collector's
        body = text if "broker" in data else MINIMAL_COLLECTOR.format(db=tmp_path / "c.db") \
            + text
        path.write_text(body)
        collector_config.load(path)


@pytest.mark.parametrize("text, reason", blocks("toml"))
def test_every_toml_example_loads(text, reason, tmp_path):
    if reason:
        pytest.skip(reason)
    load_toml_example(text, tmp_path)


def _channel(body: dict) -> str | None:
    if "kind" in body:
        return wire.EVENT
    if "interval_s" in body:
        return wire.HEARTBEAT
    if body.get("state") in wire.SITE_STATES:
        return wire.STATUS
    return None


@pytest.mark.parametrize("text, reason", blocks("json"))
def test_every_json_example_parses_and_wire_messages_decode(text, reason):
    if reason:
        pytest.skip(reason)
    stripped = text.strip()
    body = json.loads(stripped if stripped.startswith("{") else "{" + stripped + "}")
    channel = _channel(body) if "v" in body else None
    if channel is not None:
        msg = wire.decode(wire.topic(body["project"], body["site"], channel),
                          stripped.encode())
        assert msg.channel == channel


def command_lines() -> list:
    """``parkwatch ...`` lines of the indented (shell) blocks, continuations joined."""
    out = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        n = 0
        while n < len(lines):
            line, start = lines[n], n + 1
            while line.endswith("\\") and n + 1 < len(lines):
                n += 1
                line = line[:-1] + " " + lines[n].strip()
            text = line.strip().lstrip("$ ")
            if line.startswith("    ") and re.match(r"parkwatch [a-z]", text):
                out.append(pytest.param(text.split(" #")[0].strip(),
                                        id=f"{page.name}:{start}"))
            n += 1
    return out


def _parsers(parser, words):
    """The parser of the command ``words`` names, with the ones above it."""
    chain, rest = [parser], list(words)
    while rest:
        sub = next((a for a in chain[-1]._actions if hasattr(a, "_name_parser_map")), None)
        if sub is None or rest[0] not in sub.choices:
            break
        chain.append(sub.choices[rest.pop(0)])
    return chain, rest


@pytest.mark.parametrize("line", command_lines())
def test_every_command_line_names_flags_that_exist(line):
    words = shlex.split(line.replace("…", "").replace("|", " "))[1:]
    plain = [w for w in words if not w.startswith(("-", "[", "(", "<"))]
    chain, _ = _parsers(build_parser(), plain)
    assert len(chain) > 1, f"{line!r} names no parkwatch command"
    known = {o for p in chain for a in p._actions for o in a.option_strings}
    flags = {re.sub(r"[\[\]()]", "", w).split("=")[0] for w in words
             if re.sub(r"[\[\]()]", "", w).startswith("-")}
    missing = sorted(f for f in flags if f and f not in known)
    assert not missing, f"{line!r}: no such flag {missing}"


def _code_text() -> str:
    """What the docs show as code: `spans`, fenced and indented blocks, sample configs."""
    parts = [p.read_text() for p in (ROOT / "docs" / "configs").glob("*.toml")]
    for page in PAGES:
        text = page.read_text()
        parts += re.findall(r"`[^`\n]+`", text)
        parts += [m.group(3) for m in FENCE.finditer(text)]
        parts += [line for line in text.splitlines() if line.startswith("    ")]
    return "\n".join(parts)


CODE_TEXT = _code_text()


@pytest.mark.parametrize("what, code", [("config", CONFIG_CODE), ("scenario", SCENARIO_CODE),
                                        ("profile", PROFILE_CODE)])
def test_every_key_a_reader_takes_is_documented(what, code):
    undocumented = sorted(k for k in _code_keys(code, broad=False)
                          if not re.search(rf"\b{re.escape(k)}\b", CODE_TEXT))
    assert not undocumented, f"{what} keys the docs never name: {undocumented}"
