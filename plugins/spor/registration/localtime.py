"""OPS wall-clock times → ISO 8601 with the Europe/Stockholm offset in force at that instant (R13).

Input kinds (see docs/adr/0001-local-time-rules.md for the rules):
- ``'YYYY-MM-DD HH:MM:SS'`` (or with ``T``), naive ``datetime``, naive pandas ``Timestamp``:
  Swedish wall-clock time as the OPS records it;
- aware ``datetime``/``Timestamp`` or a string carrying an offset: a real instant.

Output: ``YYYY-MM-DDTHH:MM:SS+01:00`` (winter) or ``+02:00`` (summer), whole seconds
(fractions are truncated: SPOR's variables are minute/second resolution).

Two wall-clock cases have no single answer; the rule (ADR 0001):
- **Spring gap** (last Sunday of March, 02:00–02:59 does not exist): the time is read with the
  offset in force *before* the gap (+01:00), i.e. it lands one hour later on the summer clock:
  ``02:30`` → ``03:30+02:00``. Durations across the gap stay right (PEP 495 ``fold=0``).
- **Repeated autumn hour** (last Sunday of October, 02:00–02:59 happens twice): the *first*
  occurrence, summer time: ``02:30`` → ``02:30+02:00`` (PEP 495 ``fold=0``; pandas
  ``ambiguous=True``). The OPS does not record which one was meant. Only when the order of a
  registration's times says so is a time read as the second occurrence (``+01:00``):
  ``spor.registration.time_order`` decides, and passes ``second_occurrence=True`` to ``to_iso``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from spor.clock import STOCKHOLM

__all__ = ["to_iso", "to_iso_date", "to_iso_many", "wall_clock_instants", "WallClockError"]


class WallClockError(ValueError):
    """A value that is not a date-time we understand. The message never holds the value."""


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _format(local: datetime) -> str:
    off = local.utcoffset()
    assert off is not None
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:{local.second:02d}{_offset_text(off)}"


def _instant_to_iso(aware: datetime) -> str:
    return _format(aware.astimezone(STOCKHOLM))


def _wall_to_iso(naive: datetime) -> str:
    # fold=0 gives both rules at once: gap → offset before it; repeated hour → first occurrence.
    instant = naive.replace(tzinfo=STOCKHOLM, fold=0).astimezone(UTC)
    return _instant_to_iso(instant)


@lru_cache(maxsize=65536)
def _plain_hour_offset(year: int, month: int, day: int, hour: int) -> str | None:
    """Offset for every second of that local hour, or None if the hour is a DST edge (or invalid)."""
    try:
        start = datetime(year, month, day, hour)
    except ValueError:
        return None
    first = start.replace(tzinfo=STOCKHOLM, fold=0).utcoffset()
    last = (start + timedelta(minutes=59, seconds=59)).replace(tzinfo=STOCKHOLM, fold=1).utcoffset()
    if first != last or first is None:
        return None  # missing (spring) or repeated (autumn) hour: take the exact path
    return _offset_text(first)


def _string_to_iso(text: str) -> str:
    s = text.strip()
    # Fast path for the OPS's usual shape; offsets are cached per local hour.
    if len(s) == 19 and s[4] == "-" and s[7] == "-" and s[10] in " T" and s[13] == ":" and s[16] == ":":
        try:
            offset = _plain_hour_offset(int(s[:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]))
            ok = offset is not None and 0 <= int(s[14:16]) < 60 and 0 <= int(s[17:19]) < 60 and s[14:16].isdigit() and s[17:19].isdigit()
        except ValueError:
            ok = False
        if ok:
            return f"{s[:10]}T{s[11:19]}{offset}"
    try:
        parsed = datetime.fromisoformat(s)
    except ValueError:
        raise WallClockError("not an ISO date-time (expected 'YYYY-MM-DD HH:MM:SS')") from None
    return to_iso(parsed)


def _as_datetime(value: Any) -> datetime:
    """A wall-clock or aware value as a ``datetime`` with whole seconds. Raises WallClockError."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise WallClockError("not an ISO date-time (expected 'YYYY-MM-DD HH:MM:SS')") from None
    if not isinstance(value, datetime):
        raise WallClockError(f"unsupported type {type(value).__name__}")
    if value != value:  # NaT
        raise WallClockError("not recorded (NaT)")
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime(warn=False)
    return value.replace(microsecond=0)


def wall_clock_instants(value: Any) -> tuple[datetime, datetime | None]:
    """The UTC instants an OPS time can denote: ``(first, second)``, where ``first`` is what
    ``to_iso`` sends by default and ``second`` is the second occurrence of a wall-clock time in the
    repeated autumn hour (None for every other value: ordinary times, spring-gap times, and values
    that carry an offset). Raises WallClockError like ``to_iso``."""
    moment = _as_datetime(value)
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment.astimezone(UTC), None
    early = moment.replace(tzinfo=STOCKHOLM, fold=0)
    late = moment.replace(tzinfo=STOCKHOLM, fold=1)
    first, second = early.astimezone(UTC), late.astimezone(UTC)
    # Repeated hour: fold=0 has the larger offset (summer), so fold=1 is the later instant. In the
    # spring gap it is the other way round.
    if second > first:
        return first, second
    return first, None


def to_iso(value: Any, *, second_occurrence: bool = False) -> str:
    """One OPS time → ISO 8601 with the Stockholm offset in force then. Raises WallClockError.

    ``second_occurrence``: a wall-clock time in the repeated autumn hour is read as its second
    occurrence (``+01:00``); any other value is unaffected (ADR 0001, decided per registration by
    ``spor.registration.time_order``)."""
    if second_occurrence:
        second = wall_clock_instants(value)[1]
        if second is not None:
            return _instant_to_iso(second)
    if isinstance(value, str):
        return _string_to_iso(value)
    if isinstance(value, datetime):  # pandas Timestamp is a datetime subclass
        if value != value:  # NaT
            raise WallClockError("not recorded (NaT)")
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime(warn=False)
        value = value.replace(microsecond=0)
        if value.tzinfo is not None and value.utcoffset() is not None:
            return _instant_to_iso(value)
        offset = _plain_hour_offset(value.year, value.month, value.day, value.hour)
        if offset is not None:
            return f"{value:%Y-%m-%dT%H:%M:%S}{offset}"
        return _wall_to_iso(value)
    if isinstance(value, date):
        raise WallClockError("a date without a time of day")
    raise WallClockError(f"unsupported type {type(value).__name__}")


def to_iso_date(value: Any) -> str:
    """A date (or the date part of a wall-clock value) as ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            raise WallClockError("not an ISO date") from None
    raise WallClockError(f"unsupported type {type(value).__name__}")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _plain_text(value: Any) -> str | None:
    """'YYYY-MM-DD HH:MM:SS' (space or T) without offset, else None."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    if len(v) == 19 and v[4] == "-" and v[7] == "-" and v[10] in " T" and v[13] == ":" and v[16] == ":":
        return v
    return None


def to_iso_many(values: Iterable[Any]) -> list[str | None]:
    """Vectorised ``to_iso`` for many OPS wall-clock strings (a pandas Series or any iterable).

    Same rules and same output as ``to_iso`` (a property test holds them equal); missing values
    (None, NaN, NaT, '') give None. Plain 'YYYY-MM-DD HH:MM:SS' strings are parsed and localised
    in one pandas call; the few others (datetimes, offsets, DST-gap times) go through ``to_iso``.
    Raises WallClockError like ``to_iso`` for a value that is not a date-time.
    """
    import numpy as np
    import pandas as pd

    items = values.tolist() if isinstance(values, pd.Series) else list(values)
    out: list[str | None] = [None] * len(items)
    texts: list[str] = []
    where: list[int] = []
    for i, v in enumerate(items):
        if _is_missing(v):
            continue
        t = _plain_text(v)
        if t is None:
            out[i] = to_iso(v)
        else:
            texts.append(t[:10] + " " + t[11:])
            where.append(i)
    if not texts:
        return out
    naive = pd.to_datetime(pd.Series(texts), format="%Y-%m-%d %H:%M:%S", errors="coerce")
    ok = naive.notna().to_numpy()
    local = naive.dt.tz_localize(
        STOCKHOLM.key,
        ambiguous=np.ones(len(naive), dtype=bool),  # repeated hour: first occurrence (summer time)
        nonexistent=pd.Timedelta(hours=1),  # spring gap: read with the offset in force before it
    )
    wall = local.dt.tz_localize(None)
    offset_min = ((wall - local.dt.tz_convert("UTC").dt.tz_localize(None)) / pd.Timedelta(minutes=1)).to_numpy()
    shifted = (wall != naive).to_numpy()  # only spring-gap times change their wall clock
    labels = {m: _offset_text(timedelta(minutes=int(m))) for m in set(offset_min[ok].tolist())}
    for k, i in enumerate(where):
        if ok[k] and not shifted[k]:
            t = texts[k]
            out[i] = f"{t[:10]}T{t[11:]}{labels[offset_min[k]]}"
        else:  # DST gap or not parseable in bulk: the scalar path applies the rule or raises
            out[i] = to_iso(items[i])
    return out
