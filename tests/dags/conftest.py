"""Fixtures of the end-to-end tests that start an Airflow stack."""

from __future__ import annotations

import pytest

from tests.conftest import missing


@pytest.fixture(scope="module")
def services():
    """Skips (fails in CI) unless PostgreSQL and Redis answer for the distributed stack."""
    from devenv import stack

    lacking = stack.missing_services()
    if lacking:
        missing("the distributed stack lacks: " + "; ".join(lacking))
