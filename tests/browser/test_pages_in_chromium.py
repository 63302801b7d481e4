"""The status page and a run's reports as a person sees them, in headless Chromium from Debian's
packages (Playwright drives it through ``executable_path``; no browser is downloaded).

One small night of spor_nightly and one dry run of spor_resend (``dag.test``), then a real
``airflow api-server`` on the same metadata and state databases with Airflow's simple auth
manager: the test logs in through Airflow's own login page, opens the status page and every
report of both runs, and compares the figures a person reads with the state database. Every page
must fit the window (tables scroll inside the page, docs/notes.md), and the same addresses without
login are refused. Outside CI a missing Chromium skips with its reason; with CI=true it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

pytestmark = pytest.mark.xdist_group("airflow-stack")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
USER, PASSWORD = "tester", "spor-browser-test"
VIEWPORT = {"width": 1024, "height": 768}
NARROW = {"width": 480, "height": 800}


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """Decided before the (slow) night is run: skip or, with CI=true, fail when it is missing."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium on PATH: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on PATH (apt-get install -y chromium)")
    return CHROMIUM


def _last_night() -> str:
    """01:00 Stockholm of yesterday: the status page shows the last 30 nights before the real now."""
    zone = ZoneInfo("Europe/Stockholm")
    day = datetime.now(zone).date() - timedelta(days=1)
    return datetime.combine(day, time(1, 0), tzinfo=zone).isoformat()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, standin_pki, airflow_db):
    """A dry run of spor_resend over a few treatments, then the night that sends them all."""
    night = start_night(tmp_path_factory.mktemp("browser-night"), standin_pki, n=120, seed=11, days=3)
    try:
        m = night.manifest
        chosen = sorted(b for b in m.expected_rendered() if not m.treatments[b].defects)[:6]
        settings = night_settings(night, _last_night())
        with environment(settings):
            dry = load_dag("spor_resend").test(run_conf={"behandlingsnummer": chosen, "dry_run": True})
            nightly = load_dag("spor_nightly").test(logical_date=None)
        assert dry.state == "success" and nightly.state == "success", (dry.state, nightly.state)
    finally:
        night.standin.stop()
    yield {"settings": settings, "state_db": night.env.state_db, "chosen": chosen,
           "nightly": nightly.run_id, "dry": dry.run_id, "base": night.env.base}


@pytest.fixture(scope="module")
def api_server(runs, airflow_db):
    """A real API server on the runs' metadata and state databases; its process group is killed
    on teardown."""
    from devenv.stack import Stack

    passwords = runs["base"] / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    env = dict(os.environ) | runs["settings"] | {
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__WORKERS": "1",
    }
    stack = Stack(home=Path(os.environ["AIRFLOW_HOME"]), env=env, logs=runs["base"] / "api-logs")
    try:
        yield stack.start_api_server()
    finally:
        stack.stop()


def _state():
    from spor.hooks.state import state_db

    return state_db(migrate=False)


def _fits(page) -> None:
    """No horizontal overflow of the document, in a laptop's window and in a narrow one."""
    for size in (VIEWPORT, NARROW):
        page.set_viewport_size(size)
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, f"{page.url}: the document is {width} px wide in a {inner} px window"
    page.set_viewport_size(VIEWPORT)


def _cells(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        selector, "rows => rows.map(r => Array.from(r.querySelectorAll('th,td')).map(c => c.innerText.trim()))")


def _table_after(page, heading: str) -> list[list[str]]:
    """Rows of the first table after the heading with this text."""
    return page.evaluate(
        """heading => { const h = Array.from(document.querySelectorAll('h1,h2,h3')).find(x => x.innerText.trim().startsWith(heading));
           let n = h.nextElementSibling; while (n && !n.querySelector('table') && n.tagName !== 'TABLE') n = n.nextElementSibling;
           return Array.from(n.querySelectorAll('tr')).map(r => Array.from(r.querySelectorAll('th,td')).map(c => c.innerText.trim())); }""",
        heading)


def _login(browser, base: str, next_path: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{base}/auth/login?next={next_path}")
    page.get_by_label(re.compile("user", re.I)).fill(USER)
    page.get_by_label(re.compile("password", re.I)).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign in|log ?in", re.I)).click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
    return context, page


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True)
        yield b
        b.close()


def test_status_page_and_every_report_show_the_state_database_figures_and_fit_the_window(runs, api_server, browser):
    """After a real login: the status page and every report of the night (quality gate, the
    stage-approval evidence of R4, summary) and of the dry run show the counts the state database
    holds, with no horizontal overflow; the dry-run report lists what would be sent."""
    from spor.quality.gate import GateResult
    from spor.state import run_summary, runlog, summary
    from spor.state.status import NIGHT_OUTCOMES

    base, night, dry_run = api_server, runs["nightly"], runs["dry"]
    with environment(runs["settings"]):
        db = _state()
    try:
        saved = run_summary.load(db, "spor_nightly", night)
        gate = GateResult.from_json(runlog.load_report(db, "spor_nightly", night, "quality-json")[1])
        dry = summary.load_dry_run(db, "spor_resend", dry_run)
    finally:
        db.dispose()
    by_state = {k: int(v) for k, v in saved["by_state"].items()}
    assert by_state.get("created", 0) > 0 and by_state.get("quarantined", 0) > 0, by_state

    context, page = _login(browser, base, "/spor/status")
    try:
        page.goto(f"{base}/spor/status")
        assert page.title() == "SPOR status"
        cards = {c[0]: c[1] for c in (t.split("\n") for t in page.locator(".card").all_inner_texts())}
        # every outcome of the nights (each held-back state too); what waits is a count of now, and the
        # finished night left nothing waiting
        expected = {k: by_state.get(k, 0) for k in NIGHT_OUTCOMES if k != "waiting"} | {"waiting now": 0}
        assert {k: int(v.replace(",", "")) for k, v in cards.items()} == expected
        assert "Europe/Stockholm" in page.inner_text("p.muted") and " UTC" not in page.inner_text("p.muted")
        assert page.locator(f"svg.chart g[data-night] title:has-text('created {by_state['created']}')").count() == 1
        _fits(page)

        reports = f"{base}/spor/reports/spor_nightly/{night}/"
        page.goto(reports)
        kinds = {a.get_attribute("href") for a in page.locator("ul a").all()}
        assert {"quality", "stage-approval", "summary"} <= kinds, kinds
        _fits(page)

        page.goto(reports + "summary")
        rows = {r[0]: r[1] for r in _table_after(page, "Registrations by state")[1:]}
        assert {k: int(v) for k, v in rows.items() if k != "total"} == {k: by_state.get(k, 0) for k in rows if k != "total"}
        assert int(rows["total"]) == sum(by_state.values())
        _fits(page)

        page.goto(reports + "quality")
        header, values = _cells(page, "table >> nth=0 >> tr")[:2]
        shown = dict(zip(header, map(int, values)))
        assert shown["treatments"] == len(gate.ids) and shown["passed"] == len(gate.passed_ids)
        assert shown["quarantined (not sent)"] == len(gate.quarantined) and shown["warned (sent, predicted fellista)"] == len(gate.warned)
        _fits(page)

        page.goto(reports + "stage-approval")
        answers = {r[0]: int(r[1]) for r in _table_after(page, "3. Sent and SPOR's answers")[1:]}
        assert answers and all(by_state.get(k) == n for k, n in answers.items()), (answers, by_state)
        _fits(page)

        page.goto(f"{base}/spor/reports/spor_resend/{dry_run}/dry-run")
        assert dry is not None and sorted(dry["would_send"]) == runs["chosen"]
        card = {c.split("\n")[0]: int(c.split("\n")[1]) for c in page.locator(".card").all_inner_texts()}
        assert card["would be sent"] == len(runs["chosen"]) and card["unchanged"] == len(dry.get("unchanged", []))
        listed = [r[0] for r in _table_after(page, "Would be sent")[1:]]
        assert sorted(listed) == runs["chosen"]
        _fits(page)
    finally:
        context.close()


def test_the_same_addresses_without_login_are_refused(runs, api_server, browser):
    """Without a session the status page and every report answer 401 (Airflow's API refuses an
    unauthenticated request; the plugin routes carry the same guard as the DAG run pages)."""
    night, dry_run = runs["nightly"], runs["dry"]
    reports = f"{api_server}/spor/reports/spor_nightly/{night}/"
    urls = [f"{api_server}/spor/status", reports, *(reports + k for k in ("quality", "stage-approval", "summary")),
            f"{api_server}/spor/reports/spor_resend/{dry_run}/dry-run"]
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        for url in urls:
            response = page.goto(url)
            assert response.status == 401, (url, response.status)
            assert "created" not in page.content() and night not in page.inner_text("body")
    finally:
        context.close()
