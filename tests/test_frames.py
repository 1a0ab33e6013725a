import pytest

from agent import frames


def test_status_reply_round_trip():
    frame = frames.status_reply(arm=1, fault=3)
    assert frame == bytes([0x5B, 0x81, 0x02, 0x01, 0x03, 0x81 ^ 0x02 ^ 0x01 ^ 0x03, 0x5D])
    status = frames.parse_status(frame)
    assert (status.arm, status.fault, status.state) == ("open", "anti_crush", "fault")


def test_query_frame():
    assert frames.status_query() == bytes([0x5B, 0x01, 0x00, 0x01, 0x5D])


@pytest.mark.parametrize("frame,problem", [
    (bytes([0x5B, 0x81, 0x02, 0x01, 0x00, 0x00, 0x5D]), "checksum"),
    (bytes([0x5B, 0x81, 0x03, 0x01, 0x00, 0x82, 0x5D]), "length"),
    (bytes([0x5A, 0x81, 0x00, 0x81, 0x5D]), "start with 5B"),
    (bytes([0x5B, 0x01]), "too short"),
])
def test_bad_frames_raise_frame_error(frame, problem):
    with pytest.raises(frames.FrameError, match=problem):
        frames.parse_status(frame)


def test_read_frame_skips_line_noise_and_reports_silence():
    stream = iter([b"\x00", b"\xff"] + [bytes([b]) for b in frames.status_reply(0, 0)])
    assert frames.read_frame(lambda: next(stream, b"")) == frames.status_reply(0, 0)
    assert frames.read_frame(lambda: b"") is None
