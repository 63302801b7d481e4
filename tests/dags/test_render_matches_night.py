"""One verdict: `spor render` and a spor_nightly run over the same OPS agree treatment by treatment
(docs/quality-gate.md). The OPS holds every defect kind of the synthetic manifest plus three odd
inputs: a personnummer stored with a hyphen (D15), a time with fractional seconds (D18) and an
operation ending before it started (D1, a warning: sent, with a predicted error-list entry). A
planning below SPOR's minimum is sent with its own warning (R9: counted as requested only).

Compared: the rendered files and what the stand-in received; each held-back treatment's state and
its summary line; the warned treatments; and, with --state after the night, that render counts
every sent treatment as unchanged since SPOR's last final answer (and names each with --verbose).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.dags.nightly_support import environment, load_dag, night_settings, start_night

WINTER_NIGHT = "2025-12-01T01:00:00+01:00"
CHANGED = "andrad_tid = '2025-11-30 12:00:00'"
HELD = ("quarantined", "not_buildable", "identity_unknown")
LINE = re.compile(r"^(\S+)\s+(quarantined|not_buildable|identity_unknown|warned|unchanged)\s+(.*)$")


@pytest.fixture
def night(tmp_path, standin_pki, airflow_db):
    night = start_night(tmp_path, standin_pki, n=400, seed=3)
    yield night
    night.standin.stop()


def _odd_inputs(night) -> dict[str, str]:
    """Three cleanly sent treatments made odd in the OPS; returns number -> what was done."""
    from spor.synthetic.later import clean_sent

    conn = sqlite3.connect(night.env.ops_db)
    performed = {b for (b,) in conn.execute("SELECT behandlingsnummer FROM spor_behandling "
                                            "WHERE v570 IS NOT NULL AND v540 IS NOT NULL")}
    clean = [b for b in clean_sent(night.manifest) if b in performed]
    hyphen, fraction, ends_early = clean[:3]
    (pnr,) = conn.execute("SELECT personnummer FROM spor_behandling WHERE behandlingsnummer = ?", (hyphen,)).fetchone()
    # Each change names its own last-changed time, before the night (the OPS's trigger would stamp "now").
    conn.execute(f"UPDATE spor_behandling SET personnummer = ?, {CHANGED} WHERE behandlingsnummer = ?",
                 (f"{pnr[:8]}-{pnr[8:]}", hyphen))
    conn.execute(f"UPDATE spor_behandling SET v570 = v570 || '.5', {CHANGED} WHERE behandlingsnummer = ?", (fraction,))
    conn.execute(f"UPDATE spor_behandling SET v570 = datetime(v540, '-1 minute'), {CHANGED} WHERE behandlingsnummer = ?",
                 (ends_early,))
    conn.commit()
    conn.close()
    return {hyphen: "hyphenated personnummer", fraction: "fractional seconds", ends_early: "end before start"}


def _render(night, out, *extra: str) -> tuple[set[str], dict[str, tuple[str, str]], str]:
    import json

    run = subprocess.run([sys.executable, "-m", "spor", "render", "--db", f"sqlite:///{night.env.ops_db}",
                          "--out", str(out), "--all", "--units", json.dumps(night.manifest.units), *extra],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines: dict[str, tuple[str, str]] = {}
    for line in run.stdout.splitlines():
        m = LINE.match(line)
        if m:
            lines.setdefault(m.group(2), {})[m.group(1)] = line  # type: ignore[index]  # one dict per state
    return {p.stem for p in out.glob("*.xml")}, lines, run.stdout


def test_render_and_the_night_give_the_same_verdict_for_every_defect_and_odd_input(night, tmp_path):
    """D1, D15, D18 and every defect kind of the manifest: same files as sent, same held-back
    states and summary lines, same warnings; --state then names every sent one unchanged."""
    from spor.state import database as statedb
    from spor.state import run_summary

    odd = _odd_inputs(night)
    before_files, before, _ = _render(night, tmp_path / "before")

    with environment(night_settings(night, WINTER_NIGHT)):
        run = load_dag("spor_nightly").test(logical_date=None)
    assert run.state == "success", run.state
    sent = {r["behandlingsnummer"] for r in night.standin.received.index()}

    db = statedb.connect(f"sqlite:///{night.env.state_db}")
    attention = run_summary.counts(db, run.run_id).attention
    night_lines = {a.state: {} for a in attention}
    for a in attention:
        night_lines[a.state][a.behandlingsnummer] = f"{a.behandlingsnummer:<12} {a.state:<17} {a.reason}".rstrip()

    assert before_files == sent
    for state in HELD:
        assert {b: line.rstrip() for b, line in before.get(state, {}).items()} == night_lines.get(state, {}), state
    assert set(before.get("warned", {})) == set(night_lines.get("warned", {}))

    # the odd inputs: the gate stops the hyphen and the fraction, D1 is sent with its warning
    hyphen, fraction, ends_early = odd
    assert "D15" in before["quarantined"][hyphen] and hyphen not in sent
    assert "D18" in before["quarantined"][fraction] and fraction not in sent
    assert "D1" in before["warned"][ends_early] and ends_early in sent
    # R9: a planning without an end is sent, and the summary says SPOR counts it as requested only
    below = {b for b in night.manifest.with_scenario("planned-below-minimum") if b in sent}
    assert below
    for b in below:
        assert "[R9]" in night_lines["warned"][b] and "SPOR counts it as requested only" in night_lines["warned"][b]
        assert night_lines["warned"][b] == before["warned"][b].rstrip()
    # every defect kind the data holds (outside the block list) got a verdict from both
    manifest = night.manifest
    kinds = {d for e in manifest.treatments.values() if e.blocked is None for d in e.defects}
    assert kinds >= {"D1", "D2", "D3", "D5", "D11", "D13", "D15", "D17", "identity-unknown", "unit-mapping",
                     "mandatory-V310"}
    judged = set(sent) | {b for s in HELD for b in night_lines.get(s, {})}
    assert {b for b, e in manifest.treatments.items() if e.blocked is None and e.defects} <= judged

    after_files, after, stdout = _render(night, tmp_path / "after", "--state", f"sqlite:///{night.env.state_db}",
                                         "--environment", "stage", "--verbose")
    assert after_files == sent and set(after.get("unchanged", {})) == sent
    assert f"the night would skip {len(sent)} as unchanged" in stdout
    # without --verbose only the count: one line per treatment would bury the held-back ones
    _files, quiet, stdout = _render(night, tmp_path / "quiet", "--state", f"sqlite:///{night.env.state_db}",
                                    "--environment", "stage")
    assert "unchanged" not in quiet and f"the night would skip {len(sent)} as unchanged" in stdout
