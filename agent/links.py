"""What every device link (serial, TCP, HTTP, Modbus) raises instead of returning a reply.

A poll fails in one of three ways, counted separately: the link is down (port gone,
connection refused), the device did not answer in time, or it answered something the
profile cannot decode (``agent.profiles.DecodeError``).
"""

from __future__ import annotations

# The most one poll reads from a LAN device (an HTTP body; the bytes a TCP device sends
# while we wait for its answer). A status reply is a few kilobytes: this is a wide margin
# that still keeps a misbehaving device from filling the gateway's memory or a poll thread.
MAX_REPLY_BYTES = 1_000_000


class LinkDown(Exception):
    """The port or connection is not there; the link retries it with backoff."""


class LinkTimeout(Exception):
    """The request went out and no acceptable reply came back in time."""


def accept_reply(codec, reply: str, address: int | None):
    """For a framed link: which frames off the line are the answer we wait for.

    Returns a function of one frame: the ``Decoded`` reply, None for a frame to skip (a
    heartbeat, another device's answer on a shared bus, a frame the profile does not know),
    or a raised ``DecodeError`` (a damaged answer: the poll fails).
    """
    from agent.profiles import DecodeError

    def accept(frame: bytes):
        try:
            decoded = codec.decode_frame(frame)
        except DecodeError as e:
            if e.kind == "unknown":
                return None
            raise
        if decoded.reply != reply:
            return None
        if address is not None and decoded.address is not None and decoded.address != address:
            return None
        return decoded

    return accept
