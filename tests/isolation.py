"""Keeping every test away from a configured Firemoon account.

A developer's machine may hold a real key in `.streamlit/secrets.toml` or in the
environment. Tests run with the repository as working directory, so without care a test
would read that key and send real, billed generations. Everything a test starts, in
process or as a child process, takes its settings from `isolated_environ`: no
`FIREMOON_*` or `KLING_*` variable from outside, and `KLING_SECRETS_FILE` pointing at an
empty file of the test run's own (set up by `tests/conftest.py`).

Streamlit reads secrets files of its own too (`secrets.files`: `~/.streamlit/secrets.toml`
and `./.streamlit/secrets.toml` unless told otherwise), copies their top-level values into
the server's environment and takes `[auth]` from them. So every Streamlit a test starts is
told to read the test's file and nothing else (`STREAMLIT_SECRETS_FILES`).
"""

from __future__ import annotations

import os
from typing import Mapping

from kling.settings import SECRETS_FILE_SETTING, read_secrets_file, secrets_file

#: Streamlit's own list of secrets files (`secrets.files`), as `streamlit run` reads it.
STREAMLIT_SECRETS = "STREAMLIT_SECRETS_FILES"
#: Prefixes of the variables a test never inherits from the machine.
OUTSIDE_SETTINGS = ("FIREMOON_", "KLING_", STREAMLIT_SECRETS)


class KeyVisible(RuntimeError):
    """A test could see an API key it did not set itself."""


def without_outside_settings(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith(OUTSIDE_SETTINGS)}


def isolated_environ(**settings: str) -> dict[str, str]:
    """The environment for a child process: the machine's, minus its studio settings,
    with this run's empty secrets file and `settings` on top."""
    secrets = os.environ.get(SECRETS_FILE_SETTING)
    if not secrets:
        raise KeyVisible(f"{SECRETS_FILE_SETTING} is not set: tests/conftest.py sets it.")
    env = without_outside_settings(os.environ)
    env[SECRETS_FILE_SETTING] = secrets
    env.update(settings)
    env[STREAMLIT_SECRETS] = env[SECRETS_FILE_SETTING]
    check_no_outside_key(env, allowed=settings.get("FIREMOON_API_KEY"))
    return env


def check_no_outside_key(environ: Mapping[str, str], allowed: str | None = None) -> None:
    """Raise `KeyVisible` if these settings would reach an account with a key that the
    test did not choose (`allowed`)."""
    key = (environ.get("FIREMOON_API_KEY") or "").strip() or (
        read_secrets_file(secrets_file(environ)).get("FIREMOON_API_KEY") or "").strip()
    if key and key != allowed:
        raise KeyVisible(
            "A test could see a Firemoon API key it did not set itself (from the "
            f"environment or {environ.get(SECRETS_FILE_SETTING, 'the secrets file')}). "
            "Stopping, so that no test sends a billed request: tests must run with "
            "`isolated_environ` / the autouse isolation fixture.")
