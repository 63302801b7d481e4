"""DAG integrity: every DAG imports, uses only shipped pools, and parsing is cheap and side-effect free."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import DAGS, ROOT

DAG_FILES = sorted(p for p in DAGS.glob("*.py"))

PARSE_PROBE = textwrap.dedent(
    """
    import json, socket, sqlite3, sys, time
    import airflow  # noqa: F401  (its own import cost is not the DAG file's)
    from airflow.dag_processing.dagbag import DagBag

    calls = []
    def refuse(name):
        def _refuse(*a, **k):
            calls.append(name)
            raise RuntimeError(name + " during DAG parse")
        return _refuse
    socket.socket.connect = refuse("socket.connect")
    sqlite3.connect = refuse("sqlite3.connect")
    try:
        import psycopg2
        psycopg2.connect = refuse("psycopg2.connect")
    except ImportError:
        pass
    before = set(sys.modules)
    t0 = time.perf_counter()
    bag = DagBag(dag_folder={path!r}, known_pools=set(json.load(open({pools!r}))) | {{"default_pool"}})  # Airflow always has default_pool
    elapsed = time.perf_counter() - t0
    heavy = sorted(m for m in set(sys.modules) - before
                   if m.split(".")[0] in {{"great_expectations", "zeep", "pandas", "lxml", "psycopg2", "kubernetes"}})
    print(json.dumps({{
        "dags": sorted(bag.dag_ids), "errors": {{k: str(v)[:300] for k, v in bag.import_errors.items()}},
        "warnings": [getattr(w, "message", str(w)) for w in bag.dag_warnings], "elapsed": elapsed, "heavy": heavy, "calls": calls,
    }}))
    """
)


def _parse(path) -> dict:
    code = PARSE_PROBE.format(path=str(path), pools=str(ROOT / "pools.json"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_dag_file_parses_cleanly_fast_and_without_side_effects():
    assert DAG_FILES, "no DAG files found"
    seen = set()
    for path in DAG_FILES:
        result = _parse(path)
        assert result["errors"] == {}, (path.name, result["errors"])
        assert result["warnings"] == [], (path.name, result["warnings"])  # e.g. an unknown pool
        assert result["dags"], f"{path.name} defines no DAG"
        assert result["calls"] == [], f"{path.name} touched a database or the network while parsing"
        assert result["heavy"] == [], f"{path.name} imports heavy libraries at parse time: {result['heavy']}"
        assert result["elapsed"] < 1.0, f"{path.name} took {result['elapsed']:.2f}s to parse"
        seen.update(result["dags"])
    assert {"spor_nightly", "spor_resend"} <= seen


def test_unknown_pool_is_reported(tmp_path):
    # The known_pools check above can fail: a DAG naming a pool that is not shipped gets a warning.
    dag_file = tmp_path / "uses_missing_pool.py"
    dag_file.write_text(
        "import pendulum\nfrom airflow.sdk import dag, task\n"
        "@dag(schedule=None, start_date=pendulum.datetime(2026,1,1))\n"
        "def d():\n    task(lambda: 1, task_id='t', pool='no_such_pool')()\nd()\n"
    )
    result = _parse(dag_file)
    assert any("no_such_pool" in w for w in result["warnings"]), result


def test_pool_file_defines_the_spor_pool():
    pools = json.loads((ROOT / "pools.json").read_text())
    assert pools["spor"]["slots"] >= 1


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_refuses_a_package_outside_its_version_range(path, monkeypatch):
    """DAG files travel by git-sync, the package in the image: a mismatch is a clear import error."""
    from airflow.dag_processing.dagbag import DagBag

    import spor

    monkeypatch.setattr(spor, "__version__", "9.0.0")
    bag = DagBag(dag_folder=str(path))
    (error,) = bag.import_errors.values()
    assert "needs spor-airflow >=0.3,<0.4, but 9.0.0 is installed" in error
    monkeypatch.undo()
    assert not DagBag(dag_folder=str(path)).import_errors


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_the_send_tasks_pool_is_the_provider_option(path, monkeypatch):
    """``[spor] pool`` (default ``spor``) is the pool of send_batch, and of no other task."""
    from airflow.dag_processing.dagbag import DagBag

    for configured, expected in ((None, "spor"), ("spor_bulk", "spor_bulk")):
        if configured:
            monkeypatch.setenv("AIRFLOW__SPOR__POOL", configured)
        (dag,) = DagBag(dag_folder=str(path)).dags.values()
        pools = {t.task_id: t.pool for t in dag.tasks}
        assert pools.pop("send_batch") == expected
        assert set(pools.values()) == {"default_pool"}


def test_the_resend_forms_treatment_numbers_are_optional():
    """Airflow's trigger form marks a param required unless its type allows null; the resend form
    selects by date range when the list is empty, so the list must not be marked required."""
    from tests.dags.nightly_support import load_dag

    param = load_dag("spor_resend").params.get_param("behandlingsnummer")
    assert "null" in param.schema["type"] and "array" in param.schema["type"]
    assert param.resolve(None) is None and param.resolve(["3000105"]) == ["3000105"]
