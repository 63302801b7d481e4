"""Preview for operators (``python -m spor render``): build registrations from the source into files.

Order of work, the same as the nightly run: read the block list (fail closed), extract, drop
blocked treatments (R11), build (spor.build.registration), write ``DIR/<behandlingsnummer>.xml`` = the
``postRegistrationRequest`` element exactly as the client puts it into the SOAP body. Nothing is
sent. Output: one line per treatment that could not be built (behandlingsnummer, state, rule,
variable, reason — never an identity number) and a final count line. Blocked treatments are
only counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TextIO

from spor.errors import BlockListUnavailable, BuildError, ConfigurationError, IdentityUnknown
from spor.build.identity import mask_person_ids

__all__ = ["PreviewResult", "preview_command", "write_previews"]

_SAFE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-]*$")  # file names: no path tricks


@dataclass
class PreviewResult:
    written: list[str] = field(default_factory=list)  # behandlingsnummer of every file written
    not_buildable: list[tuple[str, str, str, str]] = field(default_factory=list)   # (bnr, rule, variable, reason)
    identity_unknown: list[tuple[str, str, str, str]] = field(default_factory=list)
    blocked: int = 0
    not_found: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = (f"rendered {len(self.written)}, not buildable {len(self.not_buildable)}, "
                f"identity unknown {len(self.identity_unknown)}, blocked {self.blocked}")
        if self.not_found:
            line += f", not found {len(self.not_found)}"
        return line


def _line(state: str, bnr: str, rule: str, variable: str, reason: str) -> str:
    return mask_person_ids(f"not built: {bnr} state={state} rule={rule} variable={variable} reason={reason}")


def write_previews(
    batches: Iterable[Sequence[Any]],
    block_list: Any,
    units: Any,
    out: Path,
    *,
    echo: TextIO | None = None,
    schema: Any = None,
) -> PreviewResult:
    """Filter (opt-out first), build and write every treatment of ``batches``."""
    from spor.extract.optout import apply
    from spor.build.registration import build_registration

    out.mkdir(parents=True, exist_ok=True)
    result = PreviewResult()
    for batch in batches:
        allowed, blocked = apply(batch, block_list)
        result.blocked += len(blocked)
        for t in allowed:
            bnr = str(t.behandlingsnummer)
            try:
                reg = build_registration(t.row, t.children, units.system_id(t.row.get("enhet")), schema=schema)
            except IdentityUnknown as e:
                result.identity_unknown.append((bnr, e.rule, e.variable, e.reason))
                state = "identity_unknown"
            except BuildError as e:
                result.not_buildable.append((bnr, e.rule, e.variable, e.reason))
                state = "not_buildable"
            except Exception as e:  # noqa: BLE001 - one bad treatment never stops the others
                result.not_buildable.append((bnr, "error", "?", type(e).__name__))
                state = "not_buildable"
            else:
                if not _SAFE_NAME.match(reg.behandlingsnummer):
                    result.not_buildable.append((bnr, "file-name", "behandlingsnummer", "not usable as a file name"))
                    state = "not_buildable"
                else:
                    (out / f"{reg.behandlingsnummer}.xml").write_bytes(reg.xml_bytes)
                    result.written.append(reg.behandlingsnummer)
                    continue
            if echo is not None:
                _, rule, variable, reason = (result.identity_unknown if state == "identity_unknown" else result.not_buildable)[-1]
                print(_line(state, bnr, rule, variable, reason), file=echo)
    return result


def preview_command(
    *,
    db: str,
    out: Path,
    all_: bool,
    numbers: Sequence[str] | None,
    units: str | None,
    stdout: TextIO,
) -> int:
    """``python -m spor render``. Exit codes: 0 done (even with unbuildable treatments),
    2 configuration problem, 3 block list unreadable (nothing rendered)."""
    from spor.extract.optout import read_block_list
    from spor.extract.source import SourceReader
    from spor.build.units import load_units

    try:
        mapping = load_units(units)
    except ConfigurationError as e:
        print(f"error: {e} (pass --units JSON_OR_PATH)", file=stdout)
        return 2
    reader = SourceReader.from_target(db)
    try:
        block_list = read_block_list(reader)
    except BlockListUnavailable as e:
        print(f"error: {e}", file=stdout)
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

    result = write_previews(tracked(), block_list, mapping, out, echo=stdout)
    result.not_found = sorted(wanted - seen)
    for bnr in result.not_found:
        print(f"not found: {bnr}", file=stdout)
    print(result.summary(), file=stdout)
    return 0
