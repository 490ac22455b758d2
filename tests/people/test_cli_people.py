"""The command line as a person: it records the computer's user, acts `--as` someone only
where the settings allow, and obeys that person's role and budget (exit 2, nothing sent)."""

from __future__ import annotations

import pytest

from kling.history import HistoryLog
from kling.people import BudgetFile, Budgets
from kling.people.person import system_user
from tests.test_cli import Run

ROLES = """
[auth]
client_id = "kling-studio"

[roles]
admins = ["ana@acme.com"]
creators = ["cy@acme.com"]
"""
PROMPT = ["generate", "--prompt", "A red kite over white dunes, wide shot", "--seed", "3"]


@pytest.fixture
def team(tmp_path, isolated_settings):
    isolated_settings.write_text(ROLES)
    return tmp_path / "data"


def test_a_command_records_the_computers_user(tmp_path):
    data = tmp_path / "data"
    code, _, stderr = Run.start(PROMPT, data).out
    assert code == 0, stderr
    assert list(HistoryLog(data).load()["created_by"]) == [system_user()]


def test_as_is_refused_unless_the_settings_allow_it(team):
    code, stdout, stderr = Run.start([*PROMPT, "--as", "cy@acme.com"], team).out
    assert code == 2 and "KLING_ALLOW_CLI_AS" in stderr and "Traceback" not in stderr
    assert not (team / "history.csv").exists()

    code, _, stderr = Run.start([*PROMPT, "--as", "cy@acme.com"], team,
                                KLING_ALLOW_CLI_AS="true").out
    assert code == 0, stderr
    assert list(HistoryLog(team).load()["created_by"]) == ["cy@acme.com"]


def test_as_someone_takes_their_role_and_their_budget(team):
    code, _, stderr = Run.start([*PROMPT, "--as", "vi@elsewhere.org"], team,
                                KLING_ALLOW_CLI_AS="1").out
    assert code == 2 and "creator role or above" in stderr and "Traceback" not in stderr
    assert not (team / "history.csv").exists() or HistoryLog(team).load().empty

    BudgetFile(team).save(Budgets(person_usd=1.00))
    code, _, stderr = Run.start([*PROMPT, "--as", "cy@acme.com"], team,
                                KLING_ALLOW_CLI_AS="1").out
    assert code == 2, stderr
    assert "Your monthly budget has $1.00 left this month; this generation needs $1.40" in stderr
    assert HistoryLog(team).load().empty
