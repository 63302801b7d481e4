"""Test setup shared by every test: paths, an isolated AIRFLOW_HOME, and database fixtures."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
DAGS = ROOT / "dags"
TESTS = ROOT / "tests"

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
# One AIRFLOW_HOME (and metadata database) per test process: pytest-xdist workers inherit the
# controller's environment, and two workers running dag.test() on one SQLite file collide.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix=f"spor-test-airflow-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
})

#: Fixtures every test can ask for by name (after the environment above is set): the stand-in SPOR
#: service and its PKI, the state database on SQLite and PostgreSQL with a fixed clock, a local SMTP server.
pytest_plugins = ["standin.testing", "tests.spor.state_fixtures", "tests.spor.notifications.smtp_server",
                  "tests.xdist_groups"]

POSTGRES_URL = os.environ.get("SPOR_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SPOR_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def in_ci() -> bool:
    """CI (CI=true) installs and starts every tool and server the tests use: a skip there is a failure."""
    return os.environ.get("CI") == "true"


def missing(reason: str) -> None:
    """Skip the test with a one-line reason, or fail it in CI where the reason must not exist."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    """The path of a command-line tool a test shells out to; skips (fails in CI) when it is absent."""
    found = shutil.which(name)
    if not found:
        missing(f"{name} not installed (Debian package {package})")
    return found


def require_git_checkout() -> str:
    """git, inside a git checkout of the repository (the tests that list tracked files need both)."""
    git = require_tool("git", "git")
    import subprocess

    inside = subprocess.run([git, "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True, text=True)
    if inside.stdout.strip() != "true":
        missing(f"{ROOT} is not a git checkout (the test lists tracked files)")
    return git


@pytest.fixture(scope="session")
def xmllint() -> str:
    """Path of xmllint (libxml2-utils), which checks messages against the XSD independently of lxml."""
    return require_tool("xmllint", "libxml2-utils")


def _reachable(url: str) -> str | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real PostgreSQL. In CI (CI=true) its absence fails the test; elsewhere it skips."""
    problem = _reachable(POSTGRES_URL)
    if problem:
        missing(f"PostgreSQL at {POSTGRES_URL} not reachable ({problem}); set SPOR_TEST_POSTGRES_URL")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """URL of a real MariaDB (or MySQL). In CI (CI=true) its absence fails the test; elsewhere it skips."""
    problem = _reachable(MARIADB_URL)
    if problem:
        missing(f"MariaDB at {MARIADB_URL} not reachable ({problem}); set SPOR_TEST_MARIADB_URL")
    return MARIADB_URL


@pytest.fixture
def mariadb_database(mariadb_url):
    """URL of a new, uniquely named MariaDB database for one test, dropped afterwards (xdist
    workers run side by side on one server)."""
    import uuid

    import sqlalchemy as sa

    name = f"spor_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(mariadb_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield sa.engine.make_url(mariadb_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="module")
def services():
    """Skips (fails in CI) unless PostgreSQL and Redis answer for the distributed stack."""
    from devenv import stack

    lacking = stack.missing_services()
    if lacking:
        missing("the distributed stack lacks: " + "; ".join(lacking))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database for this test session (dag.test needs one), with the spor pool."""
    import subprocess

    home = Path(os.environ["AIRFLOW_HOME"])
    if not (home / ".migrated").exists():
        airflow = [sys.executable, "-m", "airflow"]
        subprocess.run([*airflow, "db", "migrate"], check=True, capture_output=True, timeout=600)
        subprocess.run([*airflow, "pools", "import", str(ROOT / "pools.json")], check=True, capture_output=True,
                       timeout=300)
        (home / ".migrated").write_text("ok")
    return home


# ----------------------------------------------------------------------------------- test tiers
# `make test-fast` runs what has none of these markers; `make test` runs everything. The markers
# are put on here, from where a test lives and what it connects to, so a new test cannot forget
# them; tests/test_tiers.py checks the result.
#: Every tier marker (pyproject.toml registers each, with what it means).
TIER_MARKERS = ("e2e", "browser", "packaging", "needs_postgres", "needs_mariadb", "needs_redis", "slow")
#: Directories under tests/ whose every test is of one tier.
TIER_BY_DIRECTORY = {"dags": "e2e", "scripts": "e2e", "bench": "e2e", "browser": "browser", "packaging": "packaging"}
#: Fixtures that connect to a server, or cost the fast tier too much.
TIER_BY_FIXTURE = {
    "postgres_url": ("needs_postgres",),
    "pg_engine": ("needs_postgres",),
    "mariadb_url": ("needs_mariadb",),
    "mariadb_database": ("needs_mariadb",),
    "mariadb_engine": ("needs_mariadb",),
    "services": ("needs_postgres", "needs_redis"),
    # `airflow db migrate` costs each test process tens of seconds of CPU before its first test.
    "airflow_db": ("e2e",),
    # `spor render` over 5,000 generated treatments, once in each test process (tests/spor/cli/test_render.py).
    "rendered_5000": ("slow",),
}
#: Fixtures parametrized over backends: only the server parameters need the server.
TIER_BY_FIXTURE_PARAM = {
    ("state_db", "postgresql"): ("needs_postgres",),
    ("ops_engine", "postgresql"): ("needs_postgres",),
    ("ops_engine", "mariadb"): ("needs_mariadb",),
}


def tiers_of(item: pytest.Item) -> set[str]:
    """The tier markers a test gets from its directory and the fixtures (and their parameters) it uses."""
    found: set[str] = set()
    path = Path(item.path)
    parts = path.relative_to(TESTS).parts if path.is_relative_to(TESTS) else ()
    if len(parts) > 1 and parts[0] in TIER_BY_DIRECTORY:
        found.add(TIER_BY_DIRECTORY[parts[0]])
    for name in getattr(item, "fixturenames", ()):
        found.update(TIER_BY_FIXTURE.get(name, ()))
    params = getattr(getattr(item, "callspec", None), "params", {})
    for (fixture, value), markers in TIER_BY_FIXTURE_PARAM.items():
        if params.get(fixture) == value:
            found.update(markers)
    return found


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in sorted(tiers_of(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)


@pytest.fixture(autouse=True)
def _tier_covers_the_fixtures_used(request):
    """Fails a test that used a fixture of TIER_BY_FIXTURE without its marker (asked for through
    request.getfixturevalue, which collection cannot see): it would run in the fast tier."""
    yield
    have = {m.name for m in request.node.iter_markers()}
    used = {name: set(TIER_BY_FIXTURE[name]) - have for name in request.fixturenames if name in TIER_BY_FIXTURE}
    lacking = {name: markers for name, markers in used.items() if markers}
    if lacking:
        pytest.fail(f"{request.node.nodeid} used {', '.join(sorted(lacking))} without the marker "
                    f"{', '.join(sorted(set().union(*lacking.values())))}: mark the test or its parameter "
                    f"(pytest.param(..., marks=...)), or name the parameter in TIER_BY_FIXTURE_PARAM of tests/conftest.py",
                    pytrace=False)
