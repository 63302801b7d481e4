"""Preview for operators (``spor render``): the messages tonight's run would build, as files.

The same steps and verdicts as the nightly run (spor.quality.verdicts, spor.registration.verdict): read the block list (fail
closed), drop blocked treatments (R11), run the quality gate over the rest, build what it lets
through, and write ``DIR/<behandlingsnummer>.xml`` = the ``postRegistrationRequest`` element
exactly as the client puts it into the SOAP body. Nothing is sent and nothing is recorded.

Output: for every treatment the night would not send, and for every rendered one the gate
warned about, the line the run summary gives it (behandlingsnummer, state, [rule] variable
reason; never an identity number). With a state database, the rendered treatments the night
would skip because SPOR's last final answer has the same content are counted, and listed one
a line only with ``verbose`` (after a good night that is nearly every treatment). Last, one count
line. Blocked treatments are only counted. Errors go to standard error.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from spor.errors import BlockListUnavailable, ConfigurationError
from spor.verdicts import WARNED, HeldBackItem

__all__ = ["PreviewResult", "preview_command", "write_previews"]

_SAFE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-]*$")  # file names: no path tricks
UNCHANGED = "unchanged"


@dataclass
class PreviewResult:
    written: list[str] = field(default_factory=list)       # behandlingsnummer of every file written
    held: list[HeldBackItem] = field(default_factory=list)  # not sent: quarantined, not buildable, ...
    warned: list[HeldBackItem] = field(default_factory=list)  # rendered, with a predicted error-list entry
    unchanged: list[str] = field(default_factory=list)     # rendered, SPOR already holds this content
    blocked: int = 0
    not_found: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for i in self.held if getattr(i.state, "value", i.state) == state)

    def summary(self) -> str:
        line = (f"rendered {len(self.written)} (warned {len(self.warned)}), quarantined {self.count('quarantined')}, "
                f"not buildable {self.count('not_buildable')}, identity unknown {self.count('identity_unknown')}, "
                f"blocked {self.blocked}")
        if self.unchanged:
            line += f"; the night would skip {len(self.unchanged)} as unchanged"
        if self.not_found:
            line += f", not found {len(self.not_found)}"
        return line


def write_previews(batches: Iterable[Sequence[Any]], block_list: Any, units: Any, out: Path, *,
                   echo: TextIO | None = None, schema: Any = None, environment: str | None = None,
                   last_answer: Any = None, echo_unchanged: bool = False) -> PreviewResult:
    """Filter (opt-out first), gate, build and write every treatment of ``batches``.
    ``last_answer(system_id, behandlingsnummer) -> (state, content_hash) | None`` names what SPOR
    already holds (the night stages only what differs); ``echo_unchanged`` prints a line for each
    such treatment too."""
    from spor.extract.optout import apply
    from spor.quality.verdicts import check_gate
    from spor.registration.verdict import build_verdict
    from spor.verdicts import held_back_numbers, verdict_line

    def say(item: HeldBackItem) -> None:
        if echo is not None:
            print(verdict_line(item), file=echo)

    out.mkdir(parents=True, exist_ok=True)
    result = PreviewResult()
    allowed: list[Any] = []
    for batch in batches:
        passed, blocked = apply(batch, block_list)
        result.blocked += len(blocked)
        allowed.extend(passed)
    gate = check_gate(allowed, environment=environment)
    stopped = held_back_numbers(gate)
    warned = {str(i.behandlingsnummer): i for i in gate if i.state == WARNED}
    for item in gate:
        if str(item.behandlingsnummer) in stopped:
            result.held.append(item)
            say(item)
    for t in allowed:
        bnr = str(t.behandlingsnummer)
        if bnr in stopped:
            continue
        reg = build_verdict(t, units, environment=environment, schema=schema)
        if isinstance(reg, HeldBackItem):
            result.held.append(reg)
            say(reg)
            continue
        if not _SAFE_NAME.match(reg.behandlingsnummer):
            item = HeldBackItem(bnr, "not_buildable", rule="file-name", variable="behandlingsnummer",
                                reason="not usable as a file name")
            result.held.append(item)
            say(item)
            continue
        (out / f"{reg.behandlingsnummer}.xml").write_bytes(reg.xml_bytes)
        result.written.append(reg.behandlingsnummer)
        if bnr in warned:
            result.warned.append(warned[bnr])
            say(warned[bnr])
        last = last_answer(reg.system_id, reg.behandlingsnummer) if last_answer else None
        if last is not None and last[1] == reg.content_hash:
            result.unchanged.append(bnr)
            if echo is not None and echo_unchanged:
                print(f"{bnr:<12} {UNCHANGED:<17} same content as SPOR's last final answer ({last[0]}): "
                      f"the night skips it", file=echo)
    return result


def _environment(given: str | None, conn_id: str) -> str:
    """The SPOR environment the night keys SPOR's answers by: given, or the connection's."""
    if given:
        return given
    from spor.hooks.spor import SporHook

    return SporHook(conn_id).get_config().ledger_environment


def preview_command(*, db: str, out: Path, all_: bool, numbers: Sequence[str] | None, units: str | None,
                    stdout: TextIO, state: str | None = None, environment: str | None = None,
                    spor_conn_id: str = "spor_default", verbose: bool = False, stderr: TextIO | None = None) -> int:
    """``spor render``. Exit codes: 0 done (even with treatments held back), 2 configuration
    problem (nothing rendered), 3 block list unreadable (nothing rendered). ``verbose``: a line
    for every treatment the night would skip as unchanged, not only their count."""
    from spor.cli.targets import missing_database
    from spor.extract.optout import read_block_list
    from spor.extract.source import SourceReader
    from spor.registration.units import load_units

    stderr = stderr or sys.stderr
    for target, what in ((db, "OPS database"), (state, "state database")):
        refusal = target and missing_database(target, what)
        if refusal:
            print(refusal, file=stderr)
            return 2
    try:
        mapping = load_units(units)
    except ConfigurationError as e:
        print(f"error: {e} (pass --units JSON_OR_PATH)", file=stderr)
        return 2
    last_answer = None
    env_name = None
    if state:
        from spor.hooks.state import state_db
        from spor.state import attempts

        try:
            env_name = _environment(environment, spor_conn_id)
        except Exception as e:  # noqa: BLE001 - any way the connection is unusable: say which
            print(f"error: cannot tell the SPOR environment from connection {spor_conn_id!r} "
                  f"({type(e).__name__}); pass --environment", file=stderr)
            return 2
        sdb = state_db(state, migrate=False)  # read only, as every reader
        if sdb.revision() is None:
            print(f"error: no SPOR tables in the state database {state}: no run has used it yet", file=stderr)
            return 2

        def last_answer(system_id: str, bnr: str) -> Any:
            return attempts.last_final_answer(sdb, env_name, system_id, bnr)

    reader = SourceReader.from_target(db)
    try:
        block_list = read_block_list(reader)
    except BlockListUnavailable as e:
        print(f"error: {e}", file=stderr)
        return 3
    if all_:
        batches: Iterator[list[Any]] | Iterable[list[Any]] = reader.all()
        wanted: set[str] = set()
    else:
        wanted = {str(n) for n in numbers or ()}
        batches = reader.by_numbers(wanted)
    seen: set[str] = set()

    def tracked() -> Iterator[list[Any]]:
        for batch in batches:
            seen.update(str(t.behandlingsnummer) for t in batch)
            yield batch

    result = write_previews(tracked(), block_list, mapping, out, echo=stdout, environment=env_name,
                            last_answer=last_answer, echo_unchanged=verbose)
    result.not_found = sorted(wanted - seen)
    for bnr in result.not_found:
        print(f"not found: {bnr}", file=stdout)
    print(result.summary(), file=stdout)
    return 0
