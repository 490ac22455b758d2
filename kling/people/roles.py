"""Who may do what: the four roles, the actions they allow, and the words for both.

The roles are ordered: each one may do everything the one below it may, and more. An
action names the least role that may take it, once, here; the core services ask this
table (`Person.require`), and the pages ask it only to hide what a person cannot do.
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """A person's role in the studio, lowest first."""

    VIEWER = "viewer"
    CREATOR = "creator"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: "Role") -> bool:
        """True when this role may do everything `other` may."""
        return self.rank >= other.rank


class Action(str, Enum):
    """Something a person does that a role may or may not allow."""

    WATCH = "watch, search, compare and export"
    COMMENT = "write notes"
    CURATE = "rate, tag and mark favourites"
    GENERATE = "generate, batch, re-run and assemble"
    EDIT = "create and edit templates and storyboards"
    REVIEW = "approve or reject generations"
    SET_BUDGETS = "set budgets"
    REMOVE = "remove generations and templates"


#: The least role that may take each action.
LEAST_ROLE: dict[Action, Role] = {
    Action.WATCH: Role.VIEWER,
    Action.COMMENT: Role.VIEWER,
    Action.CURATE: Role.CREATOR,
    Action.GENERATE: Role.CREATOR,
    Action.EDIT: Role.CREATOR,
    Action.REVIEW: Role.APPROVER,
    Action.SET_BUDGETS: Role.ADMIN,
    Action.REMOVE: Role.ADMIN,
}

#: `[roles]` lists in the secrets file, and the role each one gives.
ROLE_LISTS: dict[str, Role] = {f"{role.value}s": role for role in Role}


def allows(role: Role, action: Action) -> bool:
    """True when `role` may take `action`."""
    return role.includes(LEAST_ROLE[action])


def parse_role(text: str) -> Role:
    """A role from its name ("creator"); `ValueError` naming the four otherwise."""
    try:
        return Role(str(text).strip().lower())
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise ValueError(f"{str(text)[:40]!r} is not a role; use one of {names}") from None
