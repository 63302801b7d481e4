"""The status page and a run's reports as a person sees them, in headless Chromium from Debian's
packages (Playwright drives it through ``executable_path``; no browser is downloaded).

Not finished: the test that logs in to a real ``airflow api-server`` on a demo night and compares
the rendered counts with the state database is still to be written. Until then it skips with that
reason; with CI=true a missing Chromium already fails, so CI proves the browser is installed.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_status_page_and_reports_render_in_chromium():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium on PATH: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on PATH (apt-get install -y chromium)")
    pytest.skip("browser test not written yet: needs an api-server on a demo night (see module docstring)")
