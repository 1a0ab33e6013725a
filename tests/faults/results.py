"""What each fault test injected and found, gathered for the summary table.

Each test calls ``record`` once per fault it injected; ``table`` renders the rows, and the
fault suite's conftest prints it at the end of the run (with or without ``-s``) and writes
it to ``test-artifacts/faults-summary.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultResult:
    fault: str
    injected: int             # how many times the fault was injected
    incidents_expected: int
    incidents_found: int
    sent: int                 # events the agent emitted (stored in its outbox to send)
    received: int             # events the collector recorded, each (boot, seq) once
    duplicated: int           # events recorded twice (a copy the collector did not catch)
    redelivered: int = 0      # copies delivered and dropped by the collector (by boot, seq)
    dropped: int = 0          # events the full outbox dropped, as its `dropped` report says
    rejected: int = 0         # bad inputs rejected and counted
    worst_error_s: float | None = None  # largest |outage duration - cut| of the fault

    @property
    def ok(self) -> bool:
        return (self.incidents_expected == self.incidents_found and self.duplicated == 0
                and self.sent == self.received + self.dropped)


RESULTS: list[FaultResult] = []


def record(**fields) -> FaultResult:
    result = FaultResult(**fields)
    RESULTS.append(result)
    return result


HEADER = ("fault", "injected", "incidents exp/found", "events sent", "received", "dup",
          "redelivered", "dropped", "rejected", "worst |err| s", "ok")


def table(rows: list[FaultResult]) -> str:
    lines = [HEADER]
    for r in rows:
        err = "-" if r.worst_error_s is None else f"{r.worst_error_s:.2f}"
        lines.append((r.fault, str(r.injected), f"{r.incidents_expected}/{r.incidents_found}",
                      str(r.sent), str(r.received), str(r.duplicated), str(r.redelivered),
                      str(r.dropped), str(r.rejected), err, "yes" if r.ok else "NO"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEADER))]
    out = []
    for n, row in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
