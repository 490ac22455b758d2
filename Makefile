# Kling Studio: `make run` starts the studio, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium

.PHONY: run test team bench chromium postgresql clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files make pip run only when a requirements file changed.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.team-installed: requirements-team.txt requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-team.txt
	touch $@ $(VENV)/.runtime-installed

$(VENV)/.dev-installed: requirements-dev.txt requirements-team.txt requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed $(VENV)/.team-installed

# Playwright's own browser download cannot work here; Debian's Chromium plays H.264.
chromium:
	@test -x $(CHROMIUM) || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# The team store's tests, and `make team`, start clusters with Debian's PostgreSQL binaries.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

# Streamlit reads the studio's secrets file and no other (for `[auth]`, see README).
run: $(VENV)/.runtime-installed
	$(BIN)/streamlit run app.py --secrets.files "$${KLING_SECRETS_FILE:-.streamlit/secrets.toml}"

# The team topology on this machine, for a trial (see README, Team deployment); moto's
# S3 server, a test tool, stands in for the bucket.
team: $(VENV)/.dev-installed postgresql
	$(BIN)/python -m kling.trial

test: $(VENV)/.dev-installed chromium postgresql
	$(BIN)/python -m pytest

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache bench/results
