"""extract_changed and extract_selected: what they read from the OPS, the opt-out filter first
(R11), the hand-over in the state database, and the watermark they hand on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from spor.errors import ConfigurationError
from spor.extract import handover
from spor.state import watermark
from spor.tasks.extract import BEGINNING, extract_changed, extract_selected
from spor.tasks.runinfo import RESEND
from tests.spor.tasks.factory import Night, make_run, settings


def _blocked(ops) -> int:
    return sum(1 for t in ops.manifest.treatments.values() if t.blocked)


def test_first_night_reads_everything_and_hands_over_the_unblocked(db, ops, clock):
    night = Night(make_run(), db, ops, clock, settings())
    result = night.call(extract_changed)
    assert result["since"] == BEGINNING and result["until"] == result["watermark"] == "2025-12-01 01:00:00"
    assert result["extracted"] == len(ops.manifest.treatments)
    assert result["blocked"] == _blocked(ops) > 0
    assert result["allowed"] == result["handed_over"] == handover.count(db, night.run.run_id)
    assert result["extracted"] == result["allowed"] + result["blocked"]


def test_a_later_night_rereads_the_overlap_before_the_watermark(db, ops, clock):
    watermark.advance(db, watermark.NIGHTLY, "2025-11-20 12:00:00")
    night = Night(make_run(), db, ops, clock, settings(overlap_minutes=90))
    result = night.call(extract_changed)
    assert result["since"] == "2025-11-20 10:30:00"
    changed = [t for t in ops.manifest.treatments.values() if t.andrad_tid >= "2025-11-20 10:30:00"]
    assert result["extracted"] == len(changed) < len(ops.manifest.treatments)


def test_resend_by_numbers_reads_only_those(db, ops, clock):
    numbers = sorted(b for b, t in ops.manifest.treatments.items() if not t.blocked)[:3]
    night = Night(make_run(mode=RESEND, dag_id="spor_resend", params={"behandlingsnummer": numbers + [" "]}),
                  db, ops, clock, settings())
    result = night.call(extract_selected)
    assert result["extracted"] == result["handed_over"] == 3 and result["watermark"] is None
    assert sorted(t.behandlingsnummer for t in handover.iterate(db, night.run.run_id)) == numbers


def test_resend_by_dates_and_unit(db, ops, clock):
    unit = sorted(ops.units.as_dict())[0]
    first = datetime(2025, 11, 10)
    params = {"changed_from": f"{first:%Y-%m-%d}", "changed_to": f"{first + timedelta(days=4):%Y-%m-%d}", "unit": unit}
    night = Night(make_run(mode=RESEND, dag_id="spor_resend", params=params), db, ops, clock, settings())
    result = night.call(extract_selected)
    expected = [b for b, t in ops.manifest.treatments.items()
                if t.enhet == unit and "2025-11-10" <= t.andrad_tid[:10] <= "2025-11-14"]
    assert result["extracted"] == len(expected) > 0


def _refuse(db, numbers: list[str], text: str) -> None:
    """SPOR's last final answer for ``numbers`` in stage: ERROR with ``text``."""
    from spor.lifecycle import State
    from spor.state import outbox
    from tests.spor.state_fixtures import FakeAnswer, FakeRegistration, send_all

    outbox.stage(db, "earlier", "stage", [FakeRegistration(n) for n in numbers])
    send_all(db, "earlier", "stage", answer=lambda bn: FakeAnswer(State.REJECTED, "ERROR", text.format(bn=bn)))


def test_resend_by_spors_last_answer_reads_the_rejected_ones_matching_the_text(db, ops, clock):
    numbers = sorted(b for b, t in ops.manifest.treatments.items() if not t.blocked)
    _refuse(db, numbers[:2], "Registreringen {bn} saknar operationsdatum")
    _refuse(db, numbers[2:5], "Systemet X som angivits i SystemId hittas inte")
    params = {"rejected": True, "answer_text_contains": "SAKNAR"}
    night = Night(make_run(mode=RESEND, dag_id="spor_resend", params=params), db, ops, clock, settings())
    result = night.call(extract_selected)
    assert result["rejected_selected"] == result["handed_over"] == 2
    assert sorted(t.behandlingsnummer for t in handover.iterate(db, night.run.run_id)) == numbers[:2]
    night = Night(make_run(mode=RESEND, dag_id="spor_resend", params={"rejected": True}), db, ops, clock, settings())
    assert night.call(extract_selected)["handed_over"] == 5


def test_a_night_rereads_by_number_what_spor_refused_for_an_unknown_system_id(db, ops, clock):
    """R17: the refused ones are read again although nothing changed in the OPS (their probe)."""
    numbers = sorted(b for b, t in ops.manifest.treatments.items() if not t.blocked)[:3]
    _refuse(db, numbers, "Systemet X som angivits i SystemId hittas inte")
    watermark.advance(db, watermark.NIGHTLY, "2025-12-01 00:59:00")  # nothing changed since
    night = Night(make_run(), db, ops, clock, settings(overlap_minutes=0))
    result = night.call(extract_changed)
    assert result["refused_for_system_id"] == 3
    assert set(numbers) <= {t.behandlingsnummer for t in handover.iterate(db, night.run.run_id)}


@pytest.mark.parametrize("params, message", [({}, "needs behandlingsnummer, rejected"),
                                             ({"changed_from": "2025-11-10", "changed_to": "2025-11-01"},
                                              "changed_to is before changed_from")])
def test_resend_without_a_valid_choice_says_what_is_missing(db, ops, clock, params, message):
    night = Night(make_run(mode=RESEND, dag_id="spor_resend", params=params), db, ops, clock, settings())
    with pytest.raises(ConfigurationError, match=message):
        night.call(extract_selected)
