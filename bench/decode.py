"""Decoding speed per firmware profile: frames decoded (and mapped to a state) per second.

    .venv/bin/python bench/decode.py [--seconds 1.0] [--json FILE]

Each profile decodes its healthy reply samples and its good golden vectors in turn, on one
core, for ``--seconds``: the whole path a poll takes after the bytes arrived (frame check,
checksum, fields, state rules). Modbus profiles get a second row, "(registers)": decoding
from the register block pymodbus' client returns, without its ADU framing and CRC.
Prints a table, then the figures as JSON. Goal: at least 50,000 frames/s per profile, so
decoding is never a gateway's bottleneck.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.profiles import Codec, available, load_named  # noqa: E402
from bench.benchlib import add_json_arg, emit  # noqa: E402

GOAL = 50_000


def frames_of(codec: Codec) -> list[tuple[bytes, str | None]]:
    p = codec.profile
    named = p.kind == "http"
    frames = [(m.sample, name if named else None) for name, m in p.replies.items()]
    frames += [(g.data, g.reply if named else None) for g in p.golden if g.error is None]
    return frames


def measure(name: str, seconds: float, registers: bool = False) -> dict:
    """Frames/s of ``name``. With ``registers`` (Modbus only): from the register block
    pymodbus' client hands over, i.e. the engine's share of a live poll."""
    codec = Codec(load_named(name))
    frames = frames_of(codec)
    decode, reading = codec.decode, codec.reading
    if registers:
        from agent.profiles.modbus import parse_response

        blocks = [(codec._modbus_reply(p.function_code, len(p.registers)), p.registers)
                  for p in (parse_response(codec.profile.kind, d) for d, _ in frames)]
        size = 2 * sum(len(r) for _, r in blocks) / len(blocks)

        def one_round():
            for reply, regs in blocks:
                reading(codec.decode_registers(reply, regs).fields)
    else:
        size = sum(len(d) for d, _ in frames) / len(frames)

        def one_round():
            for data, reply in frames:
                reading(decode(data, reply).fields)
    one_round()  # warm up, and make sure they all decode
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        one_round()
        n += len(frames)
        now = time.perf_counter()
        if now >= deadline:
            break
    rate = n / (now - start)
    return {"profile": name + (" (registers)" if registers else ""),
            "transport": codec.profile.kind, "frames": n, "mean_bytes": round(size, 1),
            "frames_per_s": round(rate), "us_per_frame": round(1e6 / rate, 2),
            "meets_goal": rate >= GOAL}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="per profile (default 1)")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    results = []
    for name in available():
        results.append(measure(name, args.seconds))
        if load_named(name).kind.startswith("modbus"):
            results.append(measure(name, args.seconds, registers=True))
    print(f"{'profile':<30}{'transport':<12}{'bytes':>7}{'frames/s':>12}{'µs/frame':>10}"
          f"  goal {GOAL:,}/s")
    for r in results:
        print(f"{r['profile']:<30}{r['transport']:<12}{r['mean_bytes']:>7}"
              f"{r['frames_per_s']:>12,}{r['us_per_frame']:>10}  "
              f"{'ok' if r['meets_goal'] else 'BELOW'}")
    slowest = min(results, key=lambda r: r["frames_per_s"])
    emit({"benchmark": "decode",
          "workload": f"each of {len(available())} firmware profiles decodes its sample and "
                      f"golden frames (check, checksum, fields, state) on one core for "
                      f"{args.seconds:g} s; Modbus profiles also from the register block",
          "machine": platform.machine(), "python": platform.python_version(),
          "seconds_per_profile": args.seconds, "goal_frames_per_s": GOAL,
          "min_frames_per_s": slowest["frames_per_s"], "slowest_profile": slowest["profile"],
          "below_goal": [r["profile"] for r in results if not r["meets_goal"]],
          "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
