"""A broken profile is refused with one line naming the file, the key and what is wrong."""

from __future__ import annotations

import pytest

from agent.profiles import ProfileError, load, load_named

BASE = load_named("bg-5b-xor").path.read_text()


def write(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("old,new,key,problem", [
    ('class = "barrier"', 'class = "toaster"', "identity.class", "must be one of"),
    ('source = "synthetic"', 'source = "vendor"', "identity.reference", "must cite"),
    ('kind = "serial"', 'kind = "carrier-pigeon"', "transport.kind", "must be one of"),
    ('start = "5B"', 'start = "5G"', "framing.start", "must be hex bytes"),
    ('algorithm = "xor"', 'algorithm = "md5"', "framing.checksum.algorithm", "must be one of"),
    ('end = "5D"\n', "", "framing.escape", "escaping needs end bytes"),
    ('poll_interval_s = 1.0', 'poll_intervall_s = 1.0', "behaviour.poll_intervall_s",
     "not a known setting"),
    ('name = "arm"\noffset = 4', 'name = "arm"\noffset = 4\ntoken = 2',
     "replies.status.fields[1].name", "exactly one of offset"),
    ('name = "vehicle"\noffset = 6\nbit = 0', 'name = "vehicle"\noffset = 6\nbit = 9',
     "replies.status.fields[3].bit", "does not fit a u8"),
    ('field = "vehicle"', 'field = "vehicel"', "state.occupied.field", "no reply has a field"),
    ('not_in = ["none"]', 'not_in = ["none"]\nequals = "motor"', "state.fault[0].field",
     "exactly one of equals"),
    ('severity = "major"\nseverities', 'severity = "dire"\nseverities', "state.fault[0].severity",
     "must be one of"),
    ('sample = "5B 01 81 04 00 00 00 00 84 5D"', 'sample = "5B 01 81 04 01 01 00 00 84 5D"',
     "replies.status.sample", "healthy"),
    ('sample = "5B 01 81 04 00 00 00 00 84 5D"', 'sample = "5B 01 81 04 00 00 00 00 85 5D"',
     "replies.status.sample", "checksum"),
    ('match = { command = 0x81 }', 'match = { commando = 0x81 }', "replies.status.match.commando",
     "not a field"),
    ('answers = "status"', 'answers = "stats"', "replies.status.answers", "no request named"),
    ('poll = ["status"]', 'poll = ["statu"]', "poll", "no request named"),
    ('format = 1', 'format = 2', "format", "profile format 2 is not supported"),
    ('name = "idle, arm closed"', 'name = "idle, arm closed"\nreply = "stat"', "golden[0].reply",
     "no reply named"),
])
def test_bad_profile_names_the_key(tmp_path, old, new, key, problem):
    assert old in BASE, old
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(ProfileError) as e:
        load(path)
    assert (e.value.key, str(path)) == (key, e.value.file), str(e.value)
    assert problem in e.value.problem, str(e.value)


def test_unknown_profile_name_lists_the_shipped_ones():
    with pytest.raises(ProfileError, match="no profile named 'bg-9'.*bg-5b-xor"):
        load_named("bg-9")


def test_not_toml(tmp_path):
    with pytest.raises(ProfileError, match="not valid TOML"):
        load(write(tmp_path, "format = = 1"))
