"""`make ui`'s environment (`scripts/ui.py`): the user's AIRFLOW__* variables reach the stack, the
demo's own keys win, the connection Test button is on, the scheduler makes no runs of the
schedules (the tasks' clock is simulated), the log servers get free ports unless the user names
them, and a taken port is named before anything starts."""

from __future__ import annotations

import importlib.util
import json
import socket

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def ui():
    spec = importlib.util.spec_from_file_location("spor_make_ui", ROOT / "scripts" / "ui.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(tmp_path):
    conn = {"conn_type": "spor", "extra": {"endpoint": "https://127.0.0.1:8443/spor/ws/4_1/RegistrationService",
                                           "environment": "stage"}}
    (tmp_path / "env.json").write_text(json.dumps({
        "SPOR_VENV_BIN": "/venv/bin", "AIRFLOW_HOME": "/demo/airflow", "SPOR_STANDIN_PORT": "8443",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////demo/airflow.db", "AIRFLOW__API__PORT": "8080",
        "AIRFLOW__API__BASE_URL": "http://localhost:8080", "AIRFLOW_CONN_SPOR_DEFAULT": json.dumps(conn),
        "AIRFLOW_VAR_SPOR_UNITS": "{}"}))
    return tmp_path


def test_the_users_airflow_variables_pass_the_demos_own_keys_win(ui, demo):
    user = {"PATH": "/usr/bin", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://mine",
            "AIRFLOW__API__PORT": "9999", "AIRFLOW__CORE__TEST_CONNECTION": "Hidden",
            "AIRFLOW__WEBSERVER__NAVBAR_COLOR": "#fff", "AIRFLOW_HOME": "/mine", "AIRFLOW_CONN_SPOR_DEFAULT": "{}",
            "AIRFLOW_VAR_SPOR_CONFIG": "{}", "SPOR_CLOCK_START": "2020-01-01T00:00:00+00:00",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "18793"}
    environ = ui.settings(demo, api_port=None, standin_port=8555, clock=None, user=user)
    assert environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "sqlite:////demo/airflow.db"
    assert environ["AIRFLOW_HOME"] == "/demo/airflow" and environ["AIRFLOW__API__PORT"] == "8080"
    assert environ["AIRFLOW__CORE__TEST_CONNECTION"] == "Hidden"  # the user's choice over the demo's default
    assert environ["AIRFLOW__WEBSERVER__NAVBAR_COLOR"] == "#fff"
    assert "AIRFLOW_VAR_SPOR_CONFIG" not in environ and "SPOR_CLOCK_START" not in environ
    assert json.loads(environ["AIRFLOW_CONN_SPOR_DEFAULT"])["extra"]["endpoint"].startswith("https://127.0.0.1:8555/")
    assert environ["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"
    assert int(environ["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]) not in (8793, 8794)
    assert environ["PATH"] == "/venv/bin:/usr/bin"


def test_by_default_test_connection_is_on_and_the_scheduler_makes_no_scheduled_runs(ui, demo):
    environ = ui.settings(demo, api_port=8181, standin_port=None, clock=None, user={"PATH": "/usr/bin"})
    assert environ["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
    assert environ["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"
    assert environ["AIRFLOW__API__PORT"] == "8181" and environ["AIRFLOW__API__BASE_URL"] == "http://localhost:8181"


def test_a_taken_port_is_named_with_what_needs_it(ui, demo):
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        environ = ui.settings(demo, api_port=None, standin_port=None, clock=None,
                              user={"PATH": "/usr/bin", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(taken)})
        environ["AIRFLOW__API__PORT"] = environ["SPOR_STANDIN_PORT"] = str(ui.free_port())
        environ["SPOR_STANDIN_PORT"] = str(ui.free_port())
        assert ui.ports_taken(environ) == [(taken, "the triggerer's log server")]
