"""Reading treatments from the source contract (docs/source-contract.md) through sql/extract/*.sql.

One seam for every database: ``SourceReader(connect, paramstyle)`` takes a DB-API connection
factory (``DbApiHook.get_conn`` from common-sql, ``engine.raw_connection`` from SQLAlchemy,
``sqlite3.connect``...) and the driver's paramstyle; :mod:`spor.extract.sqlbind` binds the SQL
files' neutral ``:name`` parameters for that driver.

Output is batches (lists) of ``Treatment`` of at most ``page_size`` rows, read page by page with
keyset pagination, so memory stays bounded for 100k+ rows on any driver.

Values are normalised so that SQLite, PostgreSQL and MariaDB/MySQL give the same thing: times as
``'YYYY-MM-DD HH:MM:SS'`` Stockholm wall-clock strings (as the contract stores them), numbers
as int/float, text as str, NULL as None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from spor.clock import STOCKHOLM
from spor.extract.contract import read_sql
from spor.extract.sqlbind import bind, paramstyle_of

__all__ = [
    "LISTS",
    "Treatment",
    "SourceReader",
    "wall_clock",
    "mysql_engine",
    "MYSQL_CONN_TYPES",
]

#: The list variables (child views), keys of Treatment.children; names as in variables.csv.
LISTS = (
    "preliminar_operationskod",
    "operationskod",
    "diagnos",
    "anestesiatgard",
    "perop_komplikation",
    "postop_komplikation",
)
_IN_CHUNK = 500  # bind parameters per IN list: well under every driver's limit


@dataclass(frozen=True, repr=False)
class Treatment:
    """One treatment row of spor_behandling and its child lists. repr shows no personal data."""

    behandlingsnummer: str
    row: dict[str, Any]
    children: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in LISTS})

    def __repr__(self) -> str:
        return f"Treatment({self.behandlingsnummer!r})"


# --- value normalisation -------------------------------------------------------------------
def wall_clock(value: datetime | date | str) -> str:
    """A bound for andrad_tid/time comparisons as Stockholm wall-clock text.

    An aware datetime is converted to Europe/Stockholm first; a naive one is taken as wall-clock.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(STOCKHOLM).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f" if value.microsecond else "%Y-%m-%d %H:%M:%S")
    return value.isoformat()


_PLAIN = frozenset({str, int, float, type(None)})


def _normalise(value: Any) -> Any:
    if type(value) in _PLAIN:  # the common case, checked first: rows are many
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(STOCKHOLM).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent  # 'n', 'N' or 'F' for NaN and infinity
        return int(value) if value == value.to_integral_value() and isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8")
    return value


# --- MariaDB / MySQL connections ---------------------------------------------------------------
#: Airflow connection types read through PyMySQL. The mysql provider's hook needs mysqlclient, a C
#: extension that does not install without the MySQL client headers; PyMySQL is pure Python.
MYSQL_CONN_TYPES = frozenset({"mysql", "mariadb"})


def mysql_engine(conn: Any):
    """A SQLAlchemy Engine (``mysql+pymysql``) for an Airflow connection's host, port, login,
    password and schema (the database). Scalar extras become PyMySQL connect arguments
    (``charset``, ``ssl_ca``, ...); an unknown one fails on connect, naming it."""
    import sqlalchemy as sa

    extra = conn.extra_dejson or {}
    url = sa.engine.URL.create(
        "mysql+pymysql", username=conn.login or None, password=conn.password or None,
        host=conn.host or None, port=conn.port or None, database=conn.schema or None,
        query={k: str(v) for k, v in extra.items() if isinstance(v, (str, int, float, bool))})
    return sa.create_engine(url)  # the URL object, not its text: str(url) hides the password


# --- the reader ----------------------------------------------------------------------------
class SourceReader:
    """Reads the source contract through one DB-API connection per call."""

    def __init__(self, connect: Callable[[], Any], paramstyle: str | None = None, *, page_size: int = 1000):
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._connect = connect
        self._paramstyle = paramstyle
        self.page_size = page_size

    # constructors ------------------------------------------------------------------------
    @classmethod
    def from_url(cls, target: Any, *, page_size: int = 1000) -> SourceReader:
        """From a SQLAlchemy URL string or Engine (CLI, tests, demo)."""
        from spor.extract.contract import engine_for

        engine = engine_for(target)
        return cls(engine.raw_connection, page_size=page_size)

    @classmethod
    def from_hook(cls, hook: Any, *, page_size: int = 1000) -> SourceReader:
        """From a common-sql ``DbApiHook`` (SqliteHook, PostgresHook, ...): uses ``hook.get_conn``."""
        return cls(hook.get_conn, page_size=page_size)

    @classmethod
    def from_conn_id(cls, conn_id: str, *, page_size: int = 1000) -> SourceReader:
        """From an Airflow connection id: its provider hook (imported lazily), except a ``mysql``
        connection (MariaDB, MySQL), which is read through PyMySQL (``mysql_engine``)."""
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        if conn.conn_type in MYSQL_CONN_TYPES:
            return cls.from_url(mysql_engine(conn), page_size=page_size)
        return cls.from_hook(conn.get_hook(), page_size=page_size)

    @classmethod
    def from_target(cls, target: str, *, page_size: int = 1000) -> SourceReader:
        """A SQLAlchemy URL when ``target`` looks like one (``scheme://``), else a connection id."""
        if "://" in target:
            return cls.from_url(target, page_size=page_size)
        return cls.from_conn_id(target, page_size=page_size)

    # plumbing ----------------------------------------------------------------------------
    def _open(self) -> tuple[Any, str]:
        conn = self._connect()
        return conn, self._paramstyle or paramstyle_of(conn)

    @staticmethod
    def _query(conn: Any, style: str, sql_file: str, params: Mapping[str, Any]) -> tuple[list[str], list[tuple]]:
        sql, bound = bind(read_sql(sql_file), params, style)
        cur = conn.cursor()
        try:
            cur.execute(sql, bound)
            names = [d[0].lower() for d in cur.description]
            return names, cur.fetchall()
        finally:
            cur.close()

    @staticmethod
    def _close(conn: Any) -> None:
        try:
            conn.rollback()  # read-only: end the transaction the driver may have opened
        finally:
            conn.close()

    def _children(self, conn: Any, style: str, numbers: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {b: {k: [] for k in LISTS} for b in numbers}
        for i in range(0, len(numbers), _IN_CHUNK):
            chunk = list(numbers[i:i + _IN_CHUNK])
            _, rows = self._query(conn, style, "extract/children.sql", {"numbers": chunk})
            for bnr, lista, _ordning, kod in rows:
                out[str(bnr)][lista].append(_normalise(kod))
        return out

    def _treatments(self, conn: Any, style: str, names: list[str], rows: list[tuple]) -> list[Treatment]:
        dicts = [{n: _normalise(v) for n, v in zip(names, r)} for r in rows]
        numbers = [str(d["behandlingsnummer"]) for d in dicts]
        kids = self._children(conn, style, numbers) if numbers else {}
        return [Treatment(b, d, kids[b]) for b, d in zip(numbers, dicts)]

    def _keyset_by_number(self, sql_file: str, params: Mapping[str, Any]) -> Iterator[list[Treatment]]:
        conn, style = self._open()
        try:
            after = ""
            while True:
                names, rows = self._query(conn, style, sql_file, {**params, "after_nr": after, "page_size": self.page_size})
                if not rows:
                    return
                yield self._treatments(conn, style, names, rows)
                if len(rows) < self.page_size:
                    return
                after = rows[-1][names.index("behandlingsnummer")]
        finally:
            self._close(conn)

    # public reads -------------------------------------------------------------------------
    def changed(self, since: datetime | str, until: datetime | str) -> Iterator[list[Treatment]]:
        """Treatments with andrad_tid in [since, until) — Stockholm wall-clock; aware datetimes
        are converted. The caller subtracts its overlap from ``since`` first (docs: at least one
        hour, for the repeated autumn hour and long OPS transactions)."""
        from_tid, to_tid = wall_clock(since), wall_clock(until)
        conn, style = self._open()
        try:
            after_tid: Any = from_tid
            after_nr = ""
            while True:
                names, rows = self._query(conn, style, "extract/treatments_changed.sql", {
                    "from_tid": from_tid, "to_tid": to_tid, "after_tid": after_tid,
                    "after_nr": after_nr, "page_size": self.page_size})
                if not rows:
                    return
                yield self._treatments(conn, style, names, rows)
                if len(rows) < self.page_size:
                    return
                # the raw value (not the normalised text): PostgreSQL keeps microseconds
                after_tid = rows[-1][names.index("andrad_tid")]
                after_nr = rows[-1][names.index("behandlingsnummer")]
        finally:
            self._close(conn)

    def by_numbers(self, numbers: Iterable[str]) -> Iterator[list[Treatment]]:
        """Treatments with these behandlingsnummer (unknown numbers are simply absent)."""
        wanted = sorted({str(n) for n in numbers})
        if not wanted:
            return
        conn, style = self._open()
        try:
            step = min(self.page_size, _IN_CHUNK)
            for i in range(0, len(wanted), step):
                names, rows = self._query(conn, style, "extract/treatments_by_number.sql", {"numbers": wanted[i:i + step]})
                if rows:
                    yield self._treatments(conn, style, names, rows)
        finally:
            self._close(conn)

    def by_period(self, from_day: date | datetime | str, to_day: date | datetime | str,
                  enhet: str | None = None) -> Iterator[list[Treatment]]:
        """Treatments whose treatment date (op start, else patient start, else planned start,
        else request time) is in [from_day, to_day), optionally of one unit."""
        return self._keyset_by_number("extract/treatments_by_period.sql", {
            "from_day": wall_clock(from_day), "to_day": wall_clock(to_day), "enhet": enhet})

    def all(self) -> Iterator[list[Treatment]]:
        """Every treatment, in behandlingsnummer order."""
        return self._keyset_by_number("extract/treatments_all.sql", {})

    def children(self, numbers: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """Child lists for these treatments: {behandlingsnummer: {list name: [codes in order]}}."""
        conn, style = self._open()
        try:
            return self._children(conn, style, [str(n) for n in numbers])
        finally:
            self._close(conn)

    def block_list_rows(self) -> list[dict[str, Any]]:
        """The rows of spor_sparrlista (id, personnummer, behandlingsnummer, orsak, kanal, datum).
        Errors propagate: spor.extract.optout.read_block_list turns them into BlockListUnavailable."""
        conn, style = self._open()
        try:
            names, rows = self._query(conn, style, "extract/sparrlista.sql", {})
            return [{n: _normalise(v) for n, v in zip(names, r)} for r in rows]
        finally:
            self._close(conn)
