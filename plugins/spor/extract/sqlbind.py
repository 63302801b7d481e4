"""Bind parameters for any DB-API driver: the SQL files use neutral ``:name`` parameters.

``bind()`` rewrites them for the driver's paramstyle (sqlite3 ``?``, psycopg ``%(name)s``, PyMySQL
``%s``...) and expands list parameters into one placeholder per item. Values are always bound,
never pasted into SQL.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

_TOKENS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|::|:([A-Za-z_]\w*)|%", re.S)


def bind(sql: str, params: Mapping[str, Any], paramstyle: str) -> tuple[str, Any]:
    """Rewrite ``:name`` parameters for ``paramstyle``; list/tuple values expand to one each.

    Returns (sql, parameters) ready for ``cursor.execute``. Comments are dropped; ``::`` casts
    and quoted text are left alone.
    """
    values: dict[str, Any] = {}
    order: list[str] = []

    def placeholder(name: str) -> str:
        order.append(name)
        if paramstyle == "named":
            return f":{name}"
        if paramstyle == "pyformat":
            return f"%({name})s"
        if paramstyle == "qmark":
            return "?"
        if paramstyle == "format":
            return "%s"
        if paramstyle == "numeric":
            return f":{len(order)}"
        raise ValueError(f"unsupported paramstyle {paramstyle!r}")

    percent = "%%" if paramstyle in ("pyformat", "format") else "%"

    def replace(m: re.Match[str]) -> str:
        text = m.group(0)
        if text.startswith("'"):
            return text.replace("%", percent)
        if text.startswith("--"):
            return ""
        if text == "::":
            return text
        if text == "%":
            return percent
        name = m.group(1)
        if name not in params:
            raise KeyError(f"SQL parameter :{name} has no value")
        value = params[name]
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"SQL list parameter :{name} is empty")
            parts = []
            for i, item in enumerate(value):
                key = f"{name}__{i}"
                values[key] = item
                parts.append(placeholder(key))
            return ", ".join(parts)
        values[name] = value
        return placeholder(name)

    out = _TOKENS.sub(replace, sql)
    if paramstyle in ("qmark", "format", "numeric"):
        return out, [values[k] for k in order]
    return out, values


def paramstyle_of(connection: Any) -> str:
    """The DB-API paramstyle of a connection's driver module (sqlite3 → qmark, psycopg → pyformat)."""
    conn = getattr(connection, "driver_connection", None) or connection  # SQLAlchemy pool proxy
    module = type(conn).__module__.split(".")[0]
    style = getattr(sys.modules.get(module), "paramstyle", None)
    if style is None:
        raise ValueError(f"cannot tell the paramstyle of a {module} connection: pass paramstyle=")
    return style
