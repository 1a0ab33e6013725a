"""Decoding speed per firmware profile: frames decoded (and mapped to a state) per second.

    .venv/bin/python bench/decode.py [--seconds 1.0] [--repeat N] [--clock cpu|wall]
                                     [--json FILE]

Each profile decodes its healthy reply samples and its good golden vectors in turn, on one
core, for ``--seconds``: the whole path a poll takes after the bytes arrived (frame check,
checksum, fields, state rules). Modbus profiles get a second row, "(registers)": decoding
from the register block pymodbus' client returns, without its ADU framing and CRC.
Time is the process' CPU time (``--clock cpu``, the default): frames per second of one
core, however busy the machine's other cores are; ``--clock wall`` counts elapsed time.
With ``--repeat N`` each profile is measured N times, interleaved with the others (a busy
machine slows them alike); ``frames_per_s`` is then the median, beside the min and max.
Prints a table, then the figures as JSON. Goal: at least 50,000 frames/s per profile, so
decoding is never a gateway's bottleneck.
"""

from __future__ import annotations

import argparse
import platform
import statistics
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


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def measure(name: str, seconds: float, registers: bool = False, clock=time.process_time
            ) -> dict:
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
    n, start = 0, clock()
    deadline = start + seconds
    while True:
        one_round()
        n += len(frames)
        now = clock()
        if now >= deadline:
            break
    rate = n / (now - start)
    return {"profile": name + (" (registers)" if registers else ""),
            "transport": codec.profile.kind, "frames": n, "mean_bytes": round(size, 1),
            "frames_per_s": round(rate), "us_per_frame": round(1e6 / rate, 2),
            "meets_goal": rate >= GOAL}


def combine(runs: list[dict]) -> dict:
    """One row from repeated measurements: the median, with the min and max beside it."""
    rates = sorted(r["frames_per_s"] for r in runs)
    row = dict(runs[0])
    median = statistics.median(rates)
    row.update(frames=sum(r["frames"] for r in runs), frames_per_s=round(median),
               us_per_frame=round(1e6 / median, 2), meets_goal=median >= GOAL,
               runs=len(runs), frames_per_s_min=rates[0], frames_per_s_max=rates[-1])
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="per profile (default 1)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measurements per profile, sharing its --seconds; the median is "
                         "reported (default 1)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="cpu: the process' CPU time (default); wall: elapsed time")
    add_json_arg(ap)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    cases = []
    for name in available():
        cases.append((name, False))
        if load_named(name).kind.startswith("modbus"):
            cases.append((name, True))
    runs: list[list[dict]] = [[] for _ in cases]
    for _ in range(args.repeat):
        for i, (name, registers) in enumerate(cases):
            runs[i].append(measure(name, args.seconds / args.repeat, registers,
                                   CLOCKS[args.clock]))
    results = [combine(r) for r in runs]
    print(f"{'profile':<30}{'transport':<12}{'bytes':>7}{'frames/s':>12}{'µs/frame':>10}"
          f"{'min':>10}{'max':>10}  goal {GOAL:,}/s")
    for r in results:
        print(f"{r['profile']:<30}{r['transport']:<12}{r['mean_bytes']:>7}"
              f"{r['frames_per_s']:>12,}{r['us_per_frame']:>10}"
              f"{r['frames_per_s_min']:>10,}{r['frames_per_s_max']:>10,}  "
              f"{'ok' if r['meets_goal'] else 'BELOW'}")
    slowest = min(results, key=lambda r: r["frames_per_s"])
    emit({"benchmark": "decode",
          "workload": f"each of {len(available())} firmware profiles decodes its sample and "
                      f"golden frames (check, checksum, fields, state) on one core for "
                      f"{args.seconds:g} s ({args.clock} time) in {args.repeat} run(s); "
                      f"Modbus profiles also from the register block",
          "machine": platform.machine(), "python": platform.python_version(),
          "seconds_per_profile": args.seconds, "repeat": args.repeat, "clock": args.clock,
          "goal_frames_per_s": GOAL,
          "min_frames_per_s": slowest["frames_per_s"], "slowest_profile": slowest["profile"],
          "below_goal": [r["profile"] for r in results if not r["meets_goal"]],
          "results": results}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
