"""A failing answer must give its connection back: more 503s than pool slots never hang the client."""

from __future__ import annotations

import threading

from spor.errors import TransientError
from spor.lifecycle import State
from spor.transport.client import SporClient
from standin.faults import FaultPlan
from standin.testing import hand_built_registration, spor_config


def test_more_503s_than_pool_slots_then_success_does_not_deadlock(standin_factory, standin_pki):
    pool = 2
    server = standin_factory(faults=FaultPlan(script=["503"] * (pool * 3)))
    client = SporClient(spor_config(server, standin_pki), pool_size=pool)
    outcome: list = []

    def send_all() -> None:
        for _ in range(pool * 3):
            try:
                client.post(hand_built_registration("2200070"))
            except TransientError:
                outcome.append("transient")
        outcome.append(client.post(hand_built_registration("2200070")).state)

    worker = threading.Thread(target=send_all, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the client hung: unread error answers kept the pool's connections"
    assert outcome == ["transient"] * (pool * 3) + [State.CREATED]
