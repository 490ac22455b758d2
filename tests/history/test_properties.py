"""Property tests: any text survives the log exactly, for `load()` and for plain CSV
readers (pandas, the csv module); exports never start a formula."""

from __future__ import annotations

import csv
import io
import tempfile

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kling.history import HistoryLog, export_csv
from kling.models import GenerationRequest

RISKY = ("=", "+", "-", "@", "\t", "\r")

# Any text (all of Unicode but lone surrogates, which UTF-8 cannot hold), often starting
# with a formula character and often holding the characters CSV (and NUL) make tricky.
tricky = st.text(alphabet=st.sampled_from(list(',"\'\n\r\t\\\x00;=+-@ é✓😀中ع')), max_size=40)
prompts = st.one_of(
    st.text(max_size=200),
    tricky,
    st.builds(lambda start, rest: start + rest, st.sampled_from(RISKY + ("\\", "\n")),
              st.one_of(tricky, st.text(max_size=60))),
)


def _stored(text: str) -> str:
    """Text as the log keeps it: NUL, which pandas cannot hold, as U+FFFD."""
    return text.replace("\x00", "\ufffd")


@settings(max_examples=150, deadline=None)
@given(prompt=prompts, notes=prompts, var=prompts)
def test_any_text_round_trips_exactly(prompt, notes, var):
    with tempfile.TemporaryDirectory() as data_dir:
        log = HistoryLog(data_dir)
        gen_id = log.record_pending(GenerationRequest(prompt, "5", "16:9", 7),
                                    template_vars={"subject": var})
        log.annotate(gen_id, notes=notes)
        other = HistoryLog(data_dir)  # a fresh reader: nothing from memory
        row = other.get(gen_id)
        # NUL, which pandas cannot hold, is stored as U+FFFD; everything else exactly.
        assert row["prompt"] == _stored(prompt)
        assert row["notes"] == _stored(notes)
        assert row["template_vars"] == {"subject": var}  # JSON: NUL kept as \u0000
        # One record (header aside), whatever the text holds.
        assert len(pd.read_csv(log.path, dtype=str, keep_default_na=False)) == 1


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(prompts, min_size=1, max_size=4), notes=prompts)
def test_any_text_reads_back_exactly_with_plain_csv_tools(texts, notes):
    with tempfile.TemporaryDirectory() as data_dir:
        log = HistoryLog(data_dir)
        ids = [log.record_pending(GenerationRequest(t, "5", "16:9", i))
               for i, t in enumerate(texts)]
        log.annotate(ids[0], notes=notes)
        expected = [_stored(t) for t in texts]

        frame = pd.read_csv(log.path, dtype=str, keep_default_na=False)
        assert list(frame["id"]) == ids and list(frame["prompt"]) == expected
        with open(log.path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["prompt"] for r in rows] == expected
        notes_frame = pd.read_csv(log.annotations_path, dtype=str, keep_default_na=False)
        assert list(notes_frame["value"]) == [_stored(notes)]
        assert b"\x00" not in log.path.read_bytes() + log.annotations_path.read_bytes()

        loaded = HistoryLog(data_dir).load().set_index("id")
        assert [loaded.loc[i, "prompt"] for i in ids] == expected
        assert loaded.loc[ids[0], "notes"] == _stored(notes)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(prompts, min_size=1, max_size=8))
def test_many_rows_round_trip_in_order(texts):
    with tempfile.TemporaryDirectory() as data_dir:
        log = HistoryLog(data_dir)
        ids = [log.record_pending(GenerationRequest(t, "10", "9:16", i))
               for i, t in enumerate(texts)]
        frame = HistoryLog(data_dir).load().set_index("id")
        assert [frame.loc[i, "prompt"] for i in ids] == [_stored(t) for t in texts]
        assert len(pd.read_csv(log.path)) == len(texts)


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(prompts, min_size=1, max_size=6), header=prompts)
def test_export_csv_never_starts_a_formula_and_reads_back(cells, header):
    frame = pd.DataFrame({"prompt": cells, "n": range(-len(cells), 0),
                          "x": [-1.5] * len(cells)})
    frame[header if header not in ("", "prompt", "n", "x") else "h" + header] = cells
    data = export_csv(frame)
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str,
                       keep_default_na=False)
    assert len(back) == len(cells)
    for name in back.columns:
        assert not str(name).startswith(RISKY)
        for value in back[name]:
            assert not value.startswith(RISKY)
    # Only the neutralising quote was added (and NUL, which no spreadsheet keeps, left
    # out): everything else is as written.
    plain = [c.replace("\x00", "") for c in cells]
    expected = ["'" + c if c.startswith(RISKY) else c for c in plain]
    assert list(back["prompt"]) == expected
    assert list(back["n"]) == [f"'{n}" for n in range(-len(cells), 0)]
