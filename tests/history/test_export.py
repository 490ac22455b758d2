"""Exports: CSV safe to open in a spreadsheet (UTF-8 with BOM, no formulas), and JSON."""

from __future__ import annotations

import io

import pandas as pd

from kling.history import HistoryQuery, export_csv, export_json


def test_exports(filled):
    filled.annotate("id2", notes="=HYPERLINK(\"http://evil\")")
    frame = filled.query(HistoryQuery(include_hidden=True))
    data = export_csv(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str,
                       keep_default_na=False)
    assert len(back) == 5 and list(back.columns) == list(frame.columns)
    assert back.set_index("id").loc["id2", "notes"] == "'=HYPERLINK(\"http://evil\")"
    assert back.set_index("id").loc["id1", "created_at"] == "2025-01-01 10:00:00"

    import json
    records = json.loads(export_json(frame))
    by_id = {r["id"]: r for r in records}
    assert by_id["id1"]["tags"] == ["beach", "summer"] and by_id["id1"]["rating"] == 5
    assert by_id["id2"]["inference_s"] is None
    assert by_id["id1"]["created_at"] == "2025-01-01T10:00:00.000Z"
