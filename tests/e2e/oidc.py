"""A real OpenID Connect provider on loopback, for browser tests that sign people in
with Streamlit's own `st.login` / `st.logout`.

The provider is `oidc-provider-mock` (Flask + Authlib, served by uvicorn), run as a
subprocess of the test on 127.0.0.1 and a free port. What it does, read from its source
(`oidc_provider_mock/_app.py`, 0.3.4):

* Any `client_id` / `client_secret` is accepted and any `redirect_uri` allowed: no
  client registration is needed (it is only with `--require-registration`). So several
  Streamlit servers, each with its own `redirect_uri`, can share one provider.
* Users: `PUT /users/<sub>` with a JSON object of claims registers (or replaces) one
  (`add_user`). A `sub` typed on the login form that was never registered is created on
  the spot with claims `{"email": sub}`. Claims reach the ID token by scope: `email`
  with scope `email`, `name` with `profile`; Streamlit asks for `openid email profile`.
* The login form (`/oauth2/authorize`) is not a password form: one text box
  (`name="sub"`, placeholder "sub") and an "Authorize" button, plus a "Deny" button and,
  after a first sign-in, one button per user already signed in ("Authenticate previous
  users"). `sign_in` types the email (used as `sub`) into the box and presses Authorize.
* Sign-out: `st.logout()` clears Streamlit's identity cookie at once and sends the
  browser to the provider's `end_session_endpoint`, a page with an "End session" button
  that returns to the app (via `/oauth2callback`, which sends it on to `/`).
  `confirm_sign_out` presses it. The person is already signed out of the app before the
  button is pressed.
* The `issuer` (and every endpoint in the discovery document) is built from the Host the
  request came with, so everything here uses 127.0.0.1, never `localhost`: the Streamlit
  server, the browser and the discovery URL must all see the same issuer.
* Its pages link Pico CSS from cdn.jsdelivr.net. Without network the request fails at
  once here; where it would hang instead, `block_cdn(context)` aborts it.

Streamlit (1.67, Starlette server) takes the `[auth]` section from the secrets file(s)
given by `--secrets.files=<path>` (which replaces the default list, so no
`.streamlit/secrets.toml` is read), or from the environment variable
`STREAMLIT_SECRETS_FILES=<path>`. `[auth]` needs `redirect_uri` (ending in
`/oauth2callback`), `cookie_secret`, `client_id`, `client_secret`, `server_metadata_url`
(`auth_secrets` writes them); `server.cookieSecret` is not needed (`auth.cookie_secret`
takes its place). The server must be opened in the browser on the very origin of
`redirect_uri` (http://127.0.0.1:<port>): the identity cookie records that origin and a
websocket from any other origin (`localhost:<port>`) is not signed in.

Cookies are per host, not per port: two Streamlit servers on 127.0.0.1 share the cookie
jar of one browser context, and signing in to one overwrites the other's identity cookie.
Sign different servers' people in from different browser contexts.

Usage::

    with OidcProvider() as provider:
        provider.add_user("ada@example.com", name="Ada Lovelace")
        secrets.write_text(auth_secrets(provider, port))
        # start `streamlit run ... --secrets.files=<secrets>` on 127.0.0.1:<port>
        page.get_by_role("button", name="Sign in").click()   # st.login(): page navigates
        sign_in(page, "ada@example.com")                      # back on the app, loaded
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import requests
from playwright.sync_api import expect

from tests.e2e.conftest import (
    DEFAULT_TIMEOUT,
    ServerProcess,
    free_port,
    wait_loaded,
)

#: Where the provider's pages fetch their stylesheet from (nothing else leaves loopback).
PROVIDER_CDN = "https://cdn.jsdelivr.net/**"


class OidcProvider(ServerProcess):
    """`oidc-provider-mock` on 127.0.0.1 and a free port, in a subprocess that dies with
    the test process. A context manager; `stop()` is idempotent.

    `url` is its base address, `issuer` the issuer it signs tokens with (the same),
    `server_metadata_url` its discovery document."""

    def __init__(self, log_dir: Path | None = None, timeout: float = 30) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url
        self.server_metadata_url = f"{self.url}/.well-known/openid-configuration"
        if log_dir is None:
            log_dir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "ignore"}
        self._start(
            [sys.executable, "-m", "oidc_provider_mock",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, log_path=log_dir / f"oidc-provider-{self.port}.log",
            health_url=self.server_metadata_url, name="oidc-provider-mock", timeout=timeout,
            healthy=lambda r: r.ok and r.json().get("issuer") == self.issuer)

    def add_user(self, email: str, name: str | None = None, **claims: object) -> str:
        """Register a person whose `sub` is `email`, with claims `email`, `name` (if
        given) and any others; returns the `sub` to type on the login form."""
        body = {"email": email, **({"name": name} if name is not None else {}), **claims}
        response = requests.put(f"{self.url}/users/{quote(email, safe='')}", json=body,
                                timeout=10)
        if response.status_code != 204:
            raise RuntimeError(f"oidc-provider-mock refused user {email!r}: "
                               f"{response.status_code} {response.text}")
        return email


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def auth_secrets(provider: OidcProvider, redirect_port: int, *,
                 cookie_secret: str | None = None, client_id: str = "kling-studio-e2e",
                 client_secret: str = "kling-studio-e2e-secret") -> str:
    """The `[auth]` section of a Streamlit secrets file for a server on 127.0.0.1 and
    `redirect_port` signing in through `provider` (any client id/secret will do).
    `cookie_secret` signs the identity cookie; a random one unless given."""
    if cookie_secret is None:
        cookie_secret = secrets.token_hex(32)
    values = {
        "redirect_uri": f"http://127.0.0.1:{redirect_port}/oauth2callback",
        "cookie_secret": cookie_secret,
        "client_id": client_id,
        "client_secret": client_secret,
        "server_metadata_url": provider.server_metadata_url,
    }
    return "[auth]\n" + "".join(f"{k} = {_toml_string(v)}\n" for k, v in values.items())


def block_cdn(context) -> None:
    """Abort the provider pages' stylesheet request (a Playwright BrowserContext or
    Page), so they never wait on the network."""
    context.route(PROVIDER_CDN, lambda route: route.abort())


def _back_on_app(page, app_origin: str, timeout: float) -> None:
    """Wait until `page` has loaded the app's page (not its /oauth2callback hop) and the
    app is loaded (`wait_loaded`: its first run finished, on a page with the watcher)."""
    page.wait_for_url(lambda url: url.startswith(app_origin + "/")
                      and urlparse(url).path != "/oauth2callback", timeout=timeout)
    wait_loaded(page, timeout)


def sign_in(page, email: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """On `page`, which `st.login()` is sending (or has sent) to the provider's login
    form: type `email` as the subject, press Authorize, and return once the browser is
    back on the app and it is loaded (`wait_loaded`)."""
    subject = page.locator('input[name="sub"]')
    expect(subject).to_be_editable(timeout=timeout)
    location = urlparse(page.url)
    if location.path != "/oauth2/authorize":
        raise AssertionError(f"not the provider's login form: {page.url}")
    redirect_uri = parse_qs(location.query)["redirect_uri"][0]
    app = urlparse(redirect_uri)
    subject.fill(email)
    page.get_by_role("button", name="Authorize", exact=True).click()
    _back_on_app(page, f"{app.scheme}://{app.netloc}", timeout)


def confirm_sign_out(page, timeout: float = DEFAULT_TIMEOUT) -> None:
    """On `page`, which `st.logout()` is sending (or has sent) to the provider's "End
    session" page: press the button and return once the browser is back on the app, loaded.
    (The app's identity cookie is already gone before this.)"""
    button = page.get_by_role("button", name="End session", exact=True)
    expect(button).to_be_enabled(timeout=timeout)
    redirect_uri = page.locator('input[name="redirect_uri"]').get_attribute("value")
    app = urlparse(redirect_uri)
    button.click()
    _back_on_app(page, f"{app.scheme}://{app.netloc}", timeout)
