"""A pytest plugin: ``--dist loadgroup`` that works with the pinned pytest and pytest-xdist."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """``--dist loadgroup`` sends the tests of one ``xdist_group`` to one worker by a ``@group``
    suffix that pytest-xdist 3.8 writes to ``item._nodeid``; pytest 9.2 reads node ids from
    ``item._id``, so the suffix is lost and the Airflow stacks of one group run on both workers at
    once. Write it where pytest reads it (only on a worker, and only when it is missing)."""
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")
