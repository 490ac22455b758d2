"""Sign-in and roles, as the secrets file configures them.

* **Sign-in** is on when the secrets file has an `[auth]` table: Streamlit's own
  `st.login` reads it (OpenID Connect, as Streamlit documents). Without it the studio is
  the one-person tool it always was: whoever runs it is its admin.
* **Roles** come from `[roles]`: lists `admins`, `approvers`, `creators` (and `viewers`)
  of email addresses or `@domain`s. A person listed several times gets the highest role;
  everyone else signed in gets `KLING_DEFAULT_ROLE`. A list or a role name the studio does
  not know is a start-up error that names its line, so a typo never quietly leaves a
  person with the wrong rights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import Settings, SettingsError, read_secrets_toml
from .roles import ROLE_LISTS, Role, parse_role

#: An entry of a `[roles]` list: a whole address, or "@" and a domain.
_ENTRY = re.compile(r"(?:[^@\s]+)?@[^@\s]+\.[^@\s]+")


def normal_email(text: str) -> str:
    """An address as the studio compares and stores it: trimmed, lower case."""
    return str(text).strip().lower()


@dataclass(frozen=True)
class RoleBook:
    """Who has which role: `[roles]` entries, then the default role for everyone else."""

    entries: tuple[tuple[str, Role], ...] = ()
    default_role: Role = Role.VIEWER

    def role_for(self, email: str) -> Role:
        """The highest role any entry gives `email` (exact address or its `@domain`)."""
        address = normal_email(email)
        domain = address[address.rfind("@"):] if "@" in address else None
        found = [role for entry, role in self.entries if entry in (address, domain)]
        return max(found, key=lambda role: role.rank, default=self.default_role)

    def admins(self) -> list[str]:
        """The entries that make admins, for messages that say whom to ask."""
        return [entry for entry, role in self.entries if role is Role.ADMIN]


@dataclass(frozen=True)
class PeopleConfig:
    """What the secrets file and settings say about people."""

    sign_in: bool = False
    roles: RoleBook = field(default_factory=RoleBook)
    allow_cli_as: bool = False

    @classmethod
    def load(cls, settings: Settings) -> "PeopleConfig":
        """Read `[auth]` and `[roles]` from the settings' secrets file; `SettingsError`
        naming the file and line of anything the studio cannot use."""
        data, text = read_secrets_toml(settings.secrets_path)
        try:
            default_role = parse_role(settings.default_role)
        except ValueError as exc:
            raise SettingsError(f"KLING_DEFAULT_ROLE: {exc}") from None
        roles = _role_book(data.get("roles"), text, settings.secrets_path, default_role)
        auth = data.get("auth")
        if auth is not None and not isinstance(auth, dict):
            raise SettingsError(f"{_where(settings.secrets_path, text, 'auth')}: `auth` must "
                                "be a table ([auth]), as Streamlit's sign-in documents")
        return cls(sign_in=auth is not None, roles=roles, allow_cli_as=settings.allow_cli_as)


def _line_of(text: str, key: str, table: str | None = None) -> int | None:
    """The line (1-based) where `key` is set, inside `[table]` when given."""
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\]", stripped)
        if header:
            current = header.group(1).strip().strip('"')
            if table is None and current == key:
                return number
            continue
        name = re.match(r"""["']?([^"'=\s]+)["']?\s*=""", stripped)
        if name and name.group(1) == key and (table is None or current == table):
            return number
    return None


def _where(path: Path, text: str, key: str, table: str | None = None) -> str:
    line = _line_of(text, key, table)
    return f"{path} line {line}" if line else str(path)


def _role_book(section: Any, text: str, path: Path, default_role: Role) -> RoleBook:
    if section is None:
        return RoleBook(default_role=default_role)
    if not isinstance(section, dict):
        raise SettingsError(f"{_where(path, text, 'roles')}: `roles` must be a table "
                            "([roles]) of lists such as admins = [\"ana@acme.com\"]")
    entries: list[tuple[str, Role]] = []
    known = ", ".join(ROLE_LISTS)
    for name, value in section.items():
        where = _where(path, text, name, "roles")
        if name not in ROLE_LISTS:
            raise SettingsError(f"{where}: [roles] has {name!r}, which is not a role list; "
                                f"use {known}")
        if not isinstance(value, list):
            raise SettingsError(f"{where}: {name} must be a list such as "
                                f"{name} = [\"ana@acme.com\", \"@acme.com\"]")
        for entry in value:
            if not isinstance(entry, str) or not _ENTRY.fullmatch(entry.strip()):
                raise SettingsError(f"{where}: {str(entry)[:60]!r} in {name} is neither an "
                                    "email address nor an @domain such as \"@acme.com\"")
            entries.append((normal_email(entry), ROLE_LISTS[name]))
    return RoleBook(entries=tuple(entries), default_role=default_role)
