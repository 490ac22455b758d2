"""Every page of the studio renders in demo mode without an exception."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP

PAGES = ["pages/generate.py", "pages/templates.py", "pages/history.py"]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_demo_mode(studio_env, page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar_text = " ".join(str(getattr(e, "value", "")) for e in at.sidebar.info)
    assert "Demo mode" in sidebar_text
