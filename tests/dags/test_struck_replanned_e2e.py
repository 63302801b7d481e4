"""D8, R10 over two real nights: a struck (not removed) operation, then planned again.

The source contract (docs/source-contract.md, "A struck operation planned again"; ADR 0006): while
struck, the OPS view shows the planning that was struck and its strykning (V450 = 0); planned
again, it shows the new planning under the same treatment number and no strykning. Night 1 sends
the strykning of a planned operation; night 2 sends the new, uncancelled planning, which replaces
it in SPOR (R5), and nothing for a treatment that stays struck.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.dags.nightly_support import environment, load_dag, night_settings, received, start_night

FIRST_NIGHT = "2025-12-01T01:00:00+01:00"
SECOND_NIGHT = "2025-12-02T01:00:00+01:00"


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=120, seed=7)
    yield night
    night.standin.stop()


def _planering(path: Path) -> dict[str, str]:
    """The planering element of a received request: child element -> text, the strykning's
    variables under 'strykning/…'. Empty when the message has no planering."""
    from lxml import etree

    root = etree.parse(str(path)).getroot()
    found = root.xpath("//*[local-name()='planering']")
    if not found:
        return {}
    out: dict[str, str] = {}
    for child in found[0]:
        name = etree.QName(child).localname
        if name == "strykning":
            out.update({f"strykning/{etree.QName(s).localname}": s.text or "" for s in child})
        else:
            out[name] = child.text or ""
    return out


def _messages(night, behandlingsnummer: str) -> list[tuple[dict, dict[str, str]]]:
    return [(e, _planering(night.env.received / e["file"])) for e in received(night)
            if e["behandlingsnummer"] == behandlingsnummer]


def test_d8_a_struck_operation_planned_again_sends_the_strykning_then_the_new_planning(night):
    from spor.synthetic.later import replan_struck, struck_not_removed

    ops = f"sqlite:///{night.env.ops_db}"
    replanned, still_struck = struck_not_removed(ops, night.manifest)[:2]
    dag = load_dag("spor_nightly")

    with environment(night_settings(night, FIRST_NIGHT)):
        first = dag.test(logical_date=None)
    assert first.state == "success", first.state
    for bnr in (replanned, still_struck):
        [(entry, planering)] = _messages(night, bnr)
        assert entry["outcome"] == "created"
        # night 1: the strykning of a planned operation (R10: the planning has a start and an end)
        assert planering["strykning/avforsFranVantelistan"] == "false"
        assert {"strykning/storningstyp", "strykning/storningsorsak"} <= set(planering)
        assert {"planeradOperationstidStart", "planeradOperationstidSlut"} <= set(planering)

    new = replan_struck(ops, night.manifest, replanned, planned_at=datetime(2025, 12, 1, 10, 0),
                        operation_start=datetime(2025, 12, 15, 8, 0))
    with environment(night_settings(night, SECOND_NIGHT)):
        second = dag.test(logical_date=None)
    assert second.state == "success", second.state

    messages = _messages(night, replanned)
    assert len(messages) == 2
    entry, planering = messages[1]
    assert entry["outcome"] == "updated"
    # night 2: the new planning, no strykning (D8: SPOR counts the operation as planned again)
    assert not any(k.startswith("strykning/") for k in planering), planering
    assert planering["planeradOperationstidStart"] == "2025-12-15T08:00:00+01:00"
    assert planering["planeradOperationstidSlut"] == "2025-12-15T09:30:00+01:00"
    assert planering["planeradPatienttidStart"] == "2025-12-15T07:40:00+01:00"
    assert planering["tidpunktOpPlanering"] == "2025-12-01T10:00:00+01:00"
    assert new["v420"] == "2025-12-15 08:00:00"
    # the treatment that stays struck is not sent again: SPOR already holds its strykning
    assert len(_messages(night, still_struck)) == 1
