"""Sign-in and roles from the secrets file: who gets which role, and start-up errors that
name the line."""

from __future__ import annotations

import pytest

from kling.people import PeopleConfig, Role, command_line_person, local_person
from kling.people.person import system_user
from kling.settings import Settings, SettingsError


def config(tmp_path, text: str, **env: str) -> PeopleConfig:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(text)
    return PeopleConfig.load(Settings.load({"KLING_SECRETS_FILE": str(secrets), **env}))


ROLES = """
[auth]
client_id = "studio"

[roles]
admins = ["ana@acme.com"]
approvers = ["bo@acme.com", "@agency.example"]
creators = ["@acme.com"]
"""


def test_no_auth_table_means_no_sign_in(tmp_path):
    assert not config(tmp_path, "").sign_in
    assert config(tmp_path, ROLES).sign_in


@pytest.mark.parametrize("email, role", [
    ("ana@acme.com", Role.ADMIN),          # listed as admin, also in the creators' domain
    ("ANA@Acme.com ", Role.ADMIN),         # addresses compare trimmed and case-blind
    ("bo@acme.com", Role.APPROVER),
    ("cy@acme.com", Role.CREATOR),         # by domain
    ("dee@agency.example", Role.APPROVER),
    ("eve@elsewhere.org", Role.VIEWER),    # everyone else: the default role
    ("mallory@acme.com.evil.org", Role.VIEWER),  # a domain is matched whole
])
def test_each_person_gets_the_highest_role_that_names_them(tmp_path, email, role):
    assert config(tmp_path, ROLES).roles.role_for(email) is role


def test_the_default_role_is_a_setting(tmp_path):
    book = config(tmp_path, ROLES, KLING_DEFAULT_ROLE="Creator").roles
    assert book.role_for("eve@elsewhere.org") is Role.CREATOR


def test_an_unknown_role_list_is_an_error_naming_its_line(tmp_path):
    with pytest.raises(SettingsError, match=r"secrets.toml line 4: .*'editors'.*admins"):
        config(tmp_path, '[auth]\n\n[roles]\neditors = ["x@acme.com"]\n')


def test_an_unknown_default_role_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="KLING_DEFAULT_ROLE: 'superuser' is not a role"):
        config(tmp_path, ROLES, KLING_DEFAULT_ROLE="superuser")


@pytest.mark.parametrize("entry", ["ana", "acme.com", "@", "a b@acme.com"])
def test_an_entry_that_is_no_address_or_domain_is_an_error_naming_its_line(tmp_path, entry):
    with pytest.raises(SettingsError, match="line 3: .*neither an email address nor an @domain"):
        config(tmp_path, f'[roles]\nadmins = ["ana@acme.com"]\ncreators = ["{entry}"]\n')


def test_a_role_list_must_be_a_list(tmp_path):
    with pytest.raises(SettingsError, match="line 2: creators must be a list"):
        config(tmp_path, '[roles]\ncreators = "@acme.com"\n')


def test_without_sign_in_the_local_user_is_the_admin(tmp_path):
    person = command_line_person(config(tmp_path, ""))
    assert person == local_person()
    assert person.role is Role.ADMIN and person.email == system_user()


def test_with_sign_in_the_command_line_user_gets_the_role_roles_give(tmp_path):
    person = command_line_person(config(tmp_path, ROLES))
    assert person.email == system_user() and person.role is Role.VIEWER


def test_acting_as_someone_needs_the_setting(tmp_path):
    with pytest.raises(SettingsError, match="KLING_ALLOW_CLI_AS=true"):
        command_line_person(config(tmp_path, ROLES), "bo@acme.com")
    person = command_line_person(config(tmp_path, ROLES, KLING_ALLOW_CLI_AS="yes"),
                                 "Bo@Acme.com")
    assert person.email == "bo@acme.com" and person.role is Role.APPROVER
    with pytest.raises(SettingsError, match="needs an email address"):
        command_line_person(config(tmp_path, ROLES, KLING_ALLOW_CLI_AS="1"), "bo")
