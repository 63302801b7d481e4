"""D8 in the synthetic OPS: a struck (not removed) operation planned again the way the source
contract says the view shows it: same treatment number, new planning, strykning cleared."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from spor.synthetic import generate
from spor.synthetic.later import replan_struck, struck_not_removed


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    path = tmp_path_factory.mktemp("ops") / "ops.db"
    return path, generate(f"sqlite:///{path}", n=120, seed=7)


def test_replanning_clears_the_strykning_and_writes_the_new_planning(ops):
    path, manifest = ops
    struck = struck_not_removed(f"sqlite:///{path}", manifest)
    assert struck and all(manifest.treatments[b].scenario == "cancelled-planned" for b in struck)
    bnr = struck[0]
    replan_struck(f"sqlite:///{path}", manifest, bnr, planned_at=datetime(2025, 12, 1, 10, 0),
                  operation_start=datetime(2025, 12, 15, 8, 0))
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT v410, v420, v425, v440, v445, v450, andrad_tid FROM spor_behandling "
                       "WHERE behandlingsnummer = ?", (bnr,)).fetchone()
    conn.close()
    assert row == ("2025-12-01 10:00:00", "2025-12-15 08:00:00", "2025-12-15 09:30:00", None, None, None,
                   "2025-12-01 10:00:00")
    assert manifest.treatments[bnr].scenario == "planned"
    assert bnr not in struck_not_removed(f"sqlite:///{path}", manifest)


def test_replanning_refuses_what_is_not_struck_or_was_removed(ops):
    path, manifest = ops
    conn = sqlite3.connect(path)
    (removed,) = conn.execute("SELECT behandlingsnummer FROM spor_behandling WHERE v440 IS NOT NULL AND v450 = 1 "
                              "ORDER BY behandlingsnummer").fetchone()
    (plain,) = conn.execute("SELECT behandlingsnummer FROM spor_behandling WHERE v440 IS NULL "
                            "ORDER BY behandlingsnummer").fetchone()
    conn.close()
    when = {"planned_at": datetime(2025, 12, 1, 10, 0), "operation_start": datetime(2025, 12, 15, 8, 0)}
    with pytest.raises(ValueError, match="removed from the waiting list"):
        replan_struck(f"sqlite:///{path}", manifest, removed, **when)
    with pytest.raises(ValueError, match="is not struck"):
        replan_struck(f"sqlite:///{path}", manifest, plain, **when)
