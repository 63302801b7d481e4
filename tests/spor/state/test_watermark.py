"""Extraction watermarks: advanced in the same transaction as staging, never backwards."""

from __future__ import annotations

import pytest

from spor.state import outbox, watermark
from tests.spor.state_fixtures import FakeRegistration, regs

ENV = "stage"


def test_watermark_advances_in_the_same_transaction_as_staging(state_db):
    outbox.stage(state_db, "r1", ENV, regs("1001"), watermark=("nightly", "2025-03-03T01:00:00+01:00"))
    assert watermark.read(state_db, "nightly") == "2025-03-03T01:00:00+01:00"

    class Broken(FakeRegistration):
        @property
        def xml_bytes(self):  # fails inside the staging transaction
            raise RuntimeError("build broke")

    with pytest.raises(RuntimeError):
        outbox.stage(state_db, "r2", ENV, [FakeRegistration("1002"), Broken("1003", system_id="X")],
                     watermark=("nightly", "2025-03-04T01:00:00+01:00"))
    assert watermark.read(state_db, "nightly") == "2025-03-03T01:00:00+01:00"
    assert outbox.size(state_db, ENV) == 1  # 1002 rolled back with the watermark


def test_watermark_never_moves_backwards(state_db):
    watermark.advance(state_db, "nightly", "2025-03-04T01:00:00+01:00")
    outbox.stage(state_db, "r1", ENV, [], watermark=("nightly", "2025-03-03T23:30:00+00:00"))  # 00:30 local: older
    assert watermark.read(state_db, "nightly") == "2025-03-04T01:00:00+01:00"
    watermark.advance(state_db, "nightly", "2025-03-04T00:30:00+00:00")  # 01:30 local: newer
    assert watermark.read(state_db, "nightly") == "2025-03-04T00:30:00+00:00"
