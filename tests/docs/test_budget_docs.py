"""docs/budget.md's worked example is run, and its figures are the code's figures."""

import json
import re
from pathlib import Path

from collector.db.connection import open_db
from collector.downtime import report
from simulators.scenario import runner, spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "budget.md"


def test_worked_example_in_docs_budget_md(tmp_path):
    text = DOC.read_text()
    scenario = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    expected = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    path = tmp_path / "example.toml"
    path.write_text(scenario)
    runner.run(spec.load(path), tmp_path / "example.db")
    assert report.budget(open_db(tmp_path / "example.db"), "P001", 2026) == expected
