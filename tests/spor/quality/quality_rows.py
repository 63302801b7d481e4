"""Shared rows for the quality-gate tests (a helper module, not a test): one valid treatment to mutate."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

# 19121212-1212 is the Tax Agency's public test number (Tolvan Tolvansson): a valid check digit.
VALID_PNR = "191212121212"
VALID_SAMORDNING = "197010632391"  # Skatteverket's samordningsnummer example, 12 digits


def valid_row(bn: str = "1000001", **changes: Any) -> dict[str, Any]:
    """Every variable present and consistent: passes every expectation and Python check."""
    row: dict[str, Any] = {
        "behandlingsnummer": bn, "enhet": "OP-A", "personnummer": VALID_PNR, "deltar_ej": 0,
        "akut": 0, "akut_prioritet": "2",
        "v310": "2024-01-02 10:00:00", "v335": "1",
        "v410": "2024-01-03 10:00:00", "v415": "2024-01-20 07:30:00", "v420": "2024-01-20 08:00:00",
        "v425": "2024-01-20 09:00:00", "v430": "2024-01-20 09:30:00", "v435": "2024-01-04 09:00:00",
        "v440": "4", "v445": "4d", "v450": 0,
        "v540": "2024-01-20 07:35:00", "v565": "2024-01-20 08:05:00", "v567": "2024-01-20 08:10:00",
        "v570": "2024-01-20 09:05:00", "v585": "2024-01-20 09:40:00",
        "asa": "2", "operator_hsaid": "SE2321000016-OPA1",
        "v675": 36.5, "v676": 36.7, "v690": "2", "v800": "2024-01-20 12:00:00", "v810": "2", "v875": 36.9,
        "andrad_tid": "2024-01-20 12:05:00",
        "preliminar_operationskod": ["NFB49"], "operationskod": ["NFB49", "ZXF99"], "anestesiatgard": ["ZXA10"],
    }
    row.update(copy.deepcopy(changes))
    return row


def frame(rows: list[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame(rows)


ROOT = Path(__file__).resolve().parents[3]
