"""The fault suite's summary: every fault injected, incidents expected and found, events
sent, received and duplicated. Runs after every other fault test (conftest orders it);
the table is also printed at the end of the run and kept in test-artifacts/."""

import pytest

from tests.faults import results
from tests.faults.conftest import SUMMARY, write_summary


def test_summary_table():
    if not results.RESULTS:
        pytest.skip("no fault test ran before the summary")
    text = write_summary()
    assert SUMMARY.read_text().strip() == text.strip()
    bad = [r.fault for r in results.RESULTS if not r.ok]
    assert not bad, f"faults whose figures do not add up: {bad}\n{text}"
    # Every bad input rejected (a camera's slow answer may add a timeout to its count).
    assert all(r.rejected >= r.injected for r in results.RESULTS if r.rejected), text
