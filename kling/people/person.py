"""The person behind a request: who they are, what role they have, and the three ways a
person is known (signed in through the company's provider, the one user of a local
studio, or the operating-system user of the command line)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from ..errors import NotAllowedError
from ..settings import SettingsError
from .config import PeopleConfig, normal_email
from .roles import LEAST_ROLE, Action, Role, allows


@dataclass(frozen=True)
class Person:
    """Someone using the studio. `email` is their identity wherever a name is recorded
    (the operating-system user name when nobody signs in)."""

    email: str
    role: Role
    name: str = ""

    @property
    def label(self) -> str:
        """How screens name them."""
        return self.name or self.email

    def may(self, action: Action) -> bool:
        return allows(self.role, action)

    def refusal(self, action: Action, admins: list[str] | None = None) -> NotAllowedError | None:
        """Why this person may not take `action` (which role it needs, whom to ask), or
        None when they may."""
        if self.may(action):
            return None
        needed = LEAST_ROLE[action]
        ask = f" ({', '.join(admins[:3])})" if admins else ""
        return NotAllowedError(
            f"Only people with the {needed.value} role or above may {action.value}; "
            f"{self.label} is a {self.role.value}.",
            hint=f"Ask an admin of the studio{ask} for the {needed.value} role.")

    def require(self, action: Action, admins: list[str] | None = None) -> None:
        """`NotAllowedError` saying which role is needed, unless this person may."""
        refusal = self.refusal(action, admins)
        if refusal is not None:
            raise refusal


def system_user() -> str:
    """The operating-system user running this process ("local" when it has no name)."""
    try:
        return getpass.getuser() or "local"
    except (KeyError, OSError):  # a container user without a passwd entry
        return "local"


def local_person() -> Person:
    """The one person of a studio without sign-in: whoever runs it, with every right."""
    return Person(email=system_user(), role=Role.ADMIN)


def signed_in_person(config: PeopleConfig, email: str, name: str = "") -> Person:
    """A person signed in through the provider, with the role `[roles]` gives them."""
    address = normal_email(email)
    return Person(email=address, role=config.roles.role_for(address), name=str(name or ""))


def command_line_person(config: PeopleConfig, act_as: str | None = None) -> Person:
    """Who a command acts as: the operating-system user, or `--as EMAIL` where
    `KLING_ALLOW_CLI_AS` allows it. Without sign-in the local user is the admin."""
    if act_as is not None:
        if not config.allow_cli_as:
            raise SettingsError("--as is turned off: set KLING_ALLOW_CLI_AS=true to let "
                                "commands act for someone else")
        address = normal_email(act_as)
        if "@" not in address or " " in address:
            raise SettingsError(f"--as needs an email address, not {act_as[:60]!r}")
        return signed_in_person(config, address)
    if not config.sign_in:
        return local_person()
    user = system_user()
    return Person(email=user, role=config.roles.role_for(user))
