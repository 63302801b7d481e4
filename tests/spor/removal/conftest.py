"""The removal tests' OPS: a real SQLite database with the source contract."""

from __future__ import annotations

import pytest

from tests.spor.removal.removal_fixtures import Ops


@pytest.fixture
def ops(tmp_path) -> Ops:
    return Ops(tmp_path / "ops.sqlite")
