"""docs/alerts.md tells the truth: every alert the code can send has an example there, each example
is what the code sends for the doc's fixed run (tests/spor/notifications/alert_examples.py makes
them through the callbacks and the setting, and rewrites them), the settings it shows are accepted,
and the README links it. The setting's new name, ``spor_notifications``, and its old one."""

from __future__ import annotations

import ast
import difflib
import json
import logging
import re

import pytest

from spor.notifications import alerts, setting
from tests.conftest import PLUGINS, ROOT
from tests.spor.notifications import alert_examples

DOC = alert_examples.DOC


@pytest.fixture(scope="module")
def made() -> dict[str, str]:
    return alert_examples.examples()


def _causes_in_code() -> set[str]:
    """The cause of every ``Alert(...)`` alerts.py builds (its first argument, a module constant)."""
    tree = ast.parse((PLUGINS / "spor" / "notifications" / "alerts.py").read_text(encoding="utf-8"))
    names = {node.args[0].id for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "Alert" and node.args
             and isinstance(node.args[0], ast.Name)}
    assert names, "found no Alert(...) in alerts.py: the search above is broken"
    return {getattr(alerts, name) for name in names}


def test_every_alert_the_code_sends_has_an_example_in_docs_alerts_md(made):
    missing = _causes_in_code() - set(made)
    assert not missing, f"alert_examples.SCENARIOS makes no {sorted(missing)} alert: add a scenario for each"
    shown = set(alert_examples.in_doc(DOC.read_text(encoding="utf-8")))
    assert shown == set(made), (f"docs/alerts.md: no example of {sorted(set(made) - shown)}, "
                                f"examples of nothing the code sends: {sorted(shown - set(made))}")


def test_the_examples_in_docs_alerts_md_are_what_the_code_sends(made):
    """An alert's text changed: rewrite the doc's examples with alert_examples --write."""
    shown = alert_examples.in_doc(DOC.read_text(encoding="utf-8"))
    differing = {name: "".join(difflib.unified_diff(shown[name].splitlines(True), text.splitlines(True),
                                                    "docs/alerts.md", "sent", n=1))
                 for name, text in made.items() if name in shown and shown[name] != text}
    assert not differing, (f"docs/alerts.md shows other messages than the code sends; rewrite them with\n"
                           f"    {alert_examples.REWRITE}\n\n" + "\n".join(differing.values()))


def test_the_examples_name_no_identity_number_and_link_the_run(made):
    from spor.pii import mask_person_ids

    for name, text in made.items():
        assert mask_person_ids(text) == text, name
        if name != alert_examples.REMOVAL_REQUEST:
            assert f"{alert_examples.BASE_URL}/dags/spor_nightly/runs/" in text, name


def test_the_settings_docs_alerts_md_shows_are_accepted():
    """Each JSON block after a ``<!-- setting -->`` line is a valid spor_notifications value."""
    blocks = re.findall(r"<!-- setting -->\n```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2, "docs/alerts.md shows the e-mail and the notifier settings"
    settings = [setting.email_setting(json.loads(b)) for b in blocks]
    assert all(s is not None and s.alerts for s in settings)
    assert any((s.alerts or {}).get("to") for s in settings), "an e-mail example"
    assert any((s.alerts or {}).get("notifier") == "airflow.providers.slack.notifications.slack.SlackNotifier"
               for s in settings), "a Slack example"


def test_docs_alerts_md_is_linked_from_the_readme_and_settings():
    assert "(docs/alerts.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(alerts.md" in (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")


# --- the setting's name ------------------------------------------------------------------------
SETTING = {"smtp_conn_id": "smtp_default", "to": "drift@ucr.uu.se", "alerts": {"to": ["jour@sjukhus.example"]}}


@pytest.fixture
def variables(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER", raising=False)
    monkeypatch.setattr(setting, "_deprecated_name_logged", False)
    return monkeypatch


def test_the_setting_is_the_variable_spor_notifications(variables):
    variables.setenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS", json.dumps(SETTING))
    found = setting.email_setting_from_airflow()
    assert found is not None and found.variable == "spor_notifications" and found.alerts == {"to": ("jour@sjukhus.example",)}
    assert not setting.read_under_old_name(found)


def test_the_old_name_spor_removal_notifier_still_works_with_one_warning_per_process(variables, caplog):
    variables.setenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER", json.dumps(SETTING))
    with caplog.at_level(logging.WARNING, logger="spor"):
        first, second = setting.email_setting_from_airflow(), setting.email_setting_from_airflow()
    assert first == second and first is not None and first.smtp_conn_id == "smtp_default"
    assert setting.read_under_old_name(first)
    warned = [r.getMessage() for r in caplog.records if "spor_removal_notifier" in r.getMessage()]
    assert warned == [setting.deprecation_note()], warned
    assert "rename it to spor_notifications" in warned[0]


def test_the_new_name_wins_over_the_old_one_without_a_warning(variables, caplog):
    variables.setenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER", json.dumps(SETTING | {"smtp_conn_id": "old"}))
    variables.setenv("AIRFLOW_VAR_SPOR_NOTIFICATIONS", json.dumps(SETTING))
    with caplog.at_level(logging.WARNING, logger="spor"):
        found = setting.email_setting_from_airflow()
    assert found is not None and found.smtp_conn_id == "smtp_default"
    assert not caplog.records


def test_a_mistake_in_the_old_variable_is_named_by_its_old_name(variables):
    from spor.errors import ConfigurationError

    variables.setenv("AIRFLOW_VAR_SPOR_REMOVAL_NOTIFIER", json.dumps({"to": "x@y"}))
    with pytest.raises(ConfigurationError, match="spor_removal_notifier: needs smtp_conn_id"):
        setting.email_setting_from_airflow()
