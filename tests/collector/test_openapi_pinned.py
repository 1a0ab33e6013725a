"""The collector's OpenAPI document is the one in ``openapi.json`` beside this file, byte for
byte (key order too): a change to the API's contract shows up as a diff of that file, and a
refactoring of the handlers must leave it alone.

After a change meant to alter the contract, write the file anew and read its diff:
``PARKWATCH_PIN_OPENAPI=write pytest tests/collector/test_openapi_pinned.py``.
The package version is left out (the document says ``pinned``), so a release does not
rewrite it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from collector.config import CollectorConfig
from collector.ingest import Ingest
from collector.web.api import create_app
from parkwatch.core.broker import Broker

PINNED = Path(__file__).with_name("openapi.json")


def document(tmp_path) -> str:
    cfg = CollectorConfig(broker=Broker("127.0.0.1", 9), database=tmp_path / "c.db",
                          api_port=0)
    doc = create_app(Ingest(cfg)).openapi()
    doc = {**doc, "info": {**doc["info"], "version": "pinned"}}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def test_the_document_is_the_pinned_one(tmp_path):
    text = document(tmp_path)
    if os.environ.get("PARKWATCH_PIN_OPENAPI") == "write":
        PINNED.write_text(text, encoding="utf-8")
    assert text == PINNED.read_text(encoding="utf-8"), (
        f"the OpenAPI document differs from {PINNED.name}; if the contract is meant to "
        "change, write it anew (PARKWATCH_PIN_OPENAPI=write) and review the diff")
