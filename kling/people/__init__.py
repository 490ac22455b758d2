"""People: who is using the studio, what their role lets them do, what they may spend.

`config` reads sign-in and roles from the secrets file, `roles` is the table of who may do
what, `person` says who is behind a request, `budgets` keeps the monthly caps and checks
a request against them, and `guard` wraps the studio's stores so that every change goes
through those rules.
"""

from .budgets import BudgetFile, Budgets, BudgetStatus, check_fits, status, usd
from .config import PeopleConfig, RoleBook, normal_email
from .guard import ANNOTATION_ACTIONS
from .person import Person, command_line_person, local_person, signed_in_person, system_user
from .roles import LEAST_ROLE, Action, Role, allows, parse_role

__all__ = ["ANNOTATION_ACTIONS", "Action", "BudgetFile", "BudgetStatus", 
           "Budgets", "LEAST_ROLE", "PeopleConfig", "Person", "Role", "RoleBook", "allows",
           "check_fits", "command_line_person", "local_person", "normal_email",
           "parse_role", "signed_in_person", "status", "system_user", "usd"]
