"""Property tests: any text survives the log exactly; exports never start a formula."""

from __future__ import annotations

import io
import tempfile

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kling.history import HistoryLog, export_csv
from kling.models import GenerationRequest

RISKY = ("=", "+", "-", "@", "\t", "\r")

# Any text (all of Unicode but lone surrogates, which UTF-8 cannot hold), often starting
# with a formula character and often holding the characters CSV and our escaping care about.
tricky = st.text(alphabet=st.sampled_from(list(',"\'\n\r\t\\\x00;=+-@ é✓😀中ع')), max_size=40)
prompts = st.one_of(
    st.text(max_size=200),
    tricky,
    st.builds(lambda start, rest: start + rest, st.sampled_from(RISKY + ("\\", "\n")),
              st.one_of(tricky, st.text(max_size=60))),
)


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
        assert row["prompt"] == prompt
        assert row["notes"] == notes
        assert row["template_vars"] == {"subject": var}
        # One record per physical line, whatever the text holds.
        assert log.path.read_bytes().count(b"\n") == 2


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(prompts, min_size=1, max_size=8))
def test_many_rows_round_trip_in_order(texts):
    with tempfile.TemporaryDirectory() as data_dir:
        log = HistoryLog(data_dir)
        ids = [log.record_pending(GenerationRequest(t, "10", "9:16", i))
               for i, t in enumerate(texts)]
        frame = HistoryLog(data_dir).load().set_index("id")
        assert [frame.loc[i, "prompt"] for i in ids] == texts
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
    # Only the neutralising quote was added: everything else is as written.
    expected = ["'" + c if c.startswith(RISKY) else c for c in cells]
    assert list(back["prompt"]) == expected
    assert list(back["n"]) == [f"'{n}" for n in range(-len(cells), 0)]
