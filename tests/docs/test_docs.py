"""Docs stay true: sample configs load, every CLI command and wire channel is documented."""

from pathlib import Path

from agent import config as agent_config
from collector import config as collector_config
from parkwatch.cli import build_parser
from parkwatch.core import wire

ROOT = Path(__file__).resolve().parents[2]


def test_sample_configs_load():
    agent_config.load(ROOT / "docs/configs/agent.toml")
    collector_config.load(ROOT / "docs/configs/collector.toml")


def _commands(parser, prefix=()):
    for action in parser._actions:
        for name, sub in getattr(action, "choices", {}).items() if action.choices and \
                hasattr(action, "_name_parser_map") else []:
            yield from _commands(sub, prefix + (name,))
    if prefix:
        yield " ".join(("parkwatch",) + prefix)


def test_every_cli_command_is_in_the_docs():
    text = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    leaves = [c for c in _commands(build_parser())
              if not any(o.startswith(c + " ") for o in _commands(build_parser()))]
    missing = [c for c in leaves if c not in text]
    assert not missing, f"undocumented commands: {missing}"


def test_wire_doc_covers_every_channel_and_event_kind():
    text = (ROOT / "docs/wire.md").read_text()
    for channel in wire.CHANNELS:
        assert f"/{channel}`" in text, channel
    for kind in wire.EVENT_KINDS:
        assert f"`{kind}`" in text, kind
    assert f"schema version {wire.SCHEMA_VERSION}" in text.lower()
