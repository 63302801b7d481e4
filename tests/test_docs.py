"""Every repository path, Markdown link and ``spor.…`` name in the Markdown files still exists.

A rename that forgets the docs fails here, with every broken reference listed at once, instead of
in the hands of the next reader. What counts as a reference (and what deliberately does not):

* **Repository paths**: a token that starts with a top-level folder of the repository
  (``plugins/…``, ``tests/…``, ``docs/…``, ``sql/…``, …) and is not part of a longer path or URL. It
  must be a file or folder of the repository (tracked, or new and not git-ignored). ``<placeholder>``
  and ``*`` match anything, ``{a,b}`` expands, and a pattern must match at least one path;
  ``::test`` (pytest ids) and ``#anchor`` are cut off.
  Generated folders (``.demo/``, ``.demo-celery/``, ``dist/``) and absolute paths are not
  repository paths and are not checked.
* **Relative Markdown links** ``[x](other.md#anchor)``, resolved from the file's folder; an anchor
  into a Markdown file must be one of its headings (GitHub's slugs) or ``<a id>``s. URLs are skipped.
* **Dotted names** of the first-party packages (``spor``, ``standin``, ``devenv``), also as
  ``module:attr`` and in ``from spor.x import a, b``: the longest importable module, then
  attributes (dataclass fields and annotations count). A metric's name (``spor.metrics.METRICS``,
  with its labels filled in or cut off at the first ``<label>``) counts too. Not names: host names
  (``spor.se``), file names (``spor.pem``, ``…/spor.py``), and, in shell code blocks, anything but
  ``python -m NAME``.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import subprocess
from functools import cache
from pathlib import PurePosixPath

from tests.conftest import ROOT, require_git_checkout

#: Markdown files checked only in part, each with the reason (none is skipped whole).
PARTLY_CHECKED = {
    "CHANGELOG.md": "not its released sections, which record names as they were at that release",
}
#: Rule ids stored in quality reports and state rows: they keep the 0.2 module path of the check
#: (``spor.build`` became ``spor.registration`` in 0.3) because they are data, not imports.
STORED_RULE_IDS = {
    "python:spor.build.identity.validate_person_id",
    "python:spor.build.reading.code_as_sent",
}
PACKAGES = ("spor", "standin", "devenv")
SHELL_BLOCKS = {"sh", "bash", "shell", "console", "zsh"}
#: Host names and file names that start like a package (``spor.se``, ``spor.sqlite``).
HOST_OR_FILE = re.compile(r"\.(se|nu|com|org|net|eu|example|py|json|sql|md|pem|p12|pfx|crt|xsd|wsdl|sqlite|csv|toml|txt|"
                          r"whl|xml|html)$")

URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\bmailto:\S+")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
NAME = re.compile(rf"(?<![\w./@-])((?:python:)?(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?)"
                  r"(?![\w/-])")
FROM_IMPORT = re.compile(rf"\bfrom\s+((?:{'|'.join(PACKAGES)})(?:\.\w+)*)\s+import\s+\(?([\w\s,]+)")
RUN_MODULE = re.compile(r"(?<!\S)-m\s+([A-Za-z_][\w.]*)")
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")


def _git_files() -> list[str]:
    # tracked, or new and not ignored: a doc may name a file that is about to be added, never a generated one
    out = subprocess.run([require_git_checkout(), "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if (ROOT / line).exists()]


@cache
def _repository() -> tuple[frozenset[str], frozenset[str]]:
    """The repository's files, and every folder that holds one (with a trailing slash)."""
    files = _git_files()
    folders = {str(parent) + "/" for f in files for parent in PurePosixPath(f).parents if str(parent) != "."}
    return frozenset(files), frozenset(folders)


def _path_pattern() -> re.Pattern[str]:
    roots = sorted({f.split("/", 1)[0] for f in _repository()[0] if "/" in f})
    return re.compile(rf"(?<![\w./@~$-])((?:{'|'.join(map(re.escape, roots))})/[\w./<>*{{}},@+-]*)")


def _expand_braces(path: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [x for alt in m.group(1).split(",") for x in _expand_braces(path[:m.start()] + alt + path[m.end():])]


def _path_exists(path: str) -> bool:
    files, folders = _repository()
    pattern = re.sub(r"<[^>]*>", "*", path)
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, pattern.rstrip("/") + "/")
                   for p in files | folders)
    return pattern in files or pattern.rstrip("/") + "/" in folders


def _clean_path(token: str) -> str:
    token = re.split(r"::|#", token, maxsplit=1)[0]
    token = token.rstrip(".,:;")
    return token if "{" in token else token.split(",", 1)[0]  # a comma outside {a,b} ends the path


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def _anchors(md: str) -> frozenset[str]:
    text = (ROOT / md).read_text(encoding="utf-8")
    found: set[str] = set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _without_code(text), flags=re.M):
        slug = _slug(heading)
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return frozenset(found)


def _without_code(text: str) -> str:
    return "\n".join(line if kind is None else "" for line, kind in _lines(text))


def _lines(text: str):
    """Each line with the info string of the fenced code block it is in (None outside, "" untyped)."""
    fence: str | None = None
    kind: str | None = None
    for line in text.splitlines():
        m = FENCE.match(line)
        if m and fence is None:
            fence, kind = m.group(1), m.group(2).lower()
            yield line, kind
        elif m and fence is not None and m.group(1).startswith(fence[0]) and not m.group(2):
            yield line, kind
            fence = kind = None
        else:
            yield line, kind


def _resolves(name: str) -> bool:
    module, _, attrs = name.partition(":")
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        modname = ".".join(parts[:i])
        try:
            obj = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name and (modname == exc.name or modname.startswith(exc.name + ".")):
                continue  # this module is not there: try the shorter prefix
            raise  # the module is there but one of its own imports is missing
        rest = parts[i:] + (attrs.split(".") if attrs else [])
        return _has_attributes(obj, rest)
    return False


def _is_metric(name: str) -> bool:
    """One of the metrics' names (docs/metrics.md), not a module: whole, or up to its first label."""
    from spor.metrics import METRICS, pattern_of

    return pattern_of(name) is not None or any(name == pattern.split(".<", 1)[0] for pattern in METRICS)


def _has_attributes(obj: object, names: list[str]) -> bool:
    for attr in names:
        if hasattr(obj, attr):
            obj = getattr(obj, attr)
            continue
        # a dataclass field or annotated attribute without a class-level value
        annotated = {n for klass in getattr(obj, "__mro__", ()) for n in getattr(klass, "__annotations__", {})}
        return attr == names[-1] and attr in annotated
    return True


def _checked_text(md: str, text: str) -> str:
    """The text to check, other lines blanked so that line numbers stay right."""
    if md not in PARTLY_CHECKED:
        return text
    lines, checked = [], True
    for line in text.splitlines():
        if line.startswith("## "):
            checked = line.startswith("## [Unreleased]")
        lines.append(line if checked else "")
    return "\n".join(lines)


def references(md: str, text: str | None = None) -> list[tuple[int, str, str]]:
    """(line, kind, reference) for every reference the file ``md`` (or ``text`` as if it were there) makes."""
    text = _checked_text(md, (ROOT / md).read_text(encoding="utf-8") if text is None else text)
    folder = PurePosixPath(md).parent
    path_token = _path_pattern()
    found: list[tuple[int, str, str]] = []
    for number, (line, kind) in enumerate(_lines(text), 1):
        for target in LINK.findall(line):
            if not URL.match(target) and not target.startswith("mailto:"):
                found.append((number, "link", target if target.startswith("#") else str(folder / target)))
        bare = URL.sub(" ", LINK.sub(lambda m: " " + (m.group(0).split("](", 1)[0]), line))
        for token in path_token.findall(bare):
            for path in _expand_braces(_clean_path(token)):
                found.append((number, "path", path))
        if kind in SHELL_BLOCKS:
            names = [n for n in RUN_MODULE.findall(bare) if n.split(".")[0] in PACKAGES]
        else:
            names = [n for n in NAME.findall(bare) if not HOST_OR_FILE.search(n)]
            for module, imported in FROM_IMPORT.findall(bare):
                names += [f"{module}:{n.strip()}" for n in imported.split(",") if n.strip()]
        found += [(number, "name", n) for n in names]
    return found


def _broken(kind: str, ref: str, md: str) -> str | None:
    if kind == "path":
        return None if _path_exists(ref) else "no such file or folder in the repository"
    if kind == "link":
        target, _, anchor = ref.partition("#")
        target = str(PurePosixPath(target)) if target else md
        try:
            resolved = (ROOT / target).resolve().relative_to(ROOT.resolve()).as_posix()
        except ValueError:
            return "links outside the repository"
        if not _path_exists(resolved):
            return "links to a file that is not in the repository"
        if anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            return f"{resolved} has no heading or anchor #{anchor}"
        return None
    if ref in STORED_RULE_IDS or _is_metric(ref):
        return None
    if ref.startswith("python:"):
        ref = ref.removeprefix("python:")
    return None if _resolves(ref) else "does not import or resolve"


def _markdown_files() -> list[str]:
    return sorted(f for f in _repository()[0] if f.endswith(".md"))


SAMPLE = """\
See `plugins/spor/settings.py`, [the ADR](adr/0001-local-time-rules.md#decision) and `tests/spor/x/test_{a,b}.py::test_c`,
`sql/extract/*.sql`, `versions/NNNN_<what>.py`, `docs/notes.md#<anchor>`; not https://example.org/docs/x.md,
/opt/airflow/dags/x.py or `.demo/ops.sqlite`. `spor.registration.builder.build_registration`, `spor.plugin:SporPlugin`,
"python:spor.build.reading.code_as_sent" and `python -m spor.quality.codelist_suite`; not spor.se, spor.example.se,
spor_nightly, /secrets/spor.pem or hooks/spor.py.

```python
from spor.registration.schema_files import load_schema, SHIPPED_WSDL
```

```sh
ssh spor.region.example && python -m standin --port 0 && cp x spor.old
```
"""


def test_what_counts_as_a_reference():
    assert references("docs/sample.md", SAMPLE) == [
        (1, "link", "docs/adr/0001-local-time-rules.md#decision"),
        (1, "path", "plugins/spor/settings.py"),
        (1, "path", "tests/spor/x/test_a.py"),
        (1, "path", "tests/spor/x/test_b.py"),
        (2, "path", "sql/extract/*.sql"),
        (2, "path", "docs/notes.md"),
        (3, "name", "spor.registration.builder.build_registration"),
        (3, "name", "spor.plugin:SporPlugin"),
        (4, "name", "python:spor.build.reading.code_as_sent"),
        (4, "name", "spor.quality.codelist_suite"),
        (8, "name", "spor.registration.schema_files"),
        (8, "name", "spor.registration.schema_files:load_schema"),
        (8, "name", "spor.registration.schema_files:SHIPPED_WSDL"),
        (12, "name", "standin"),
    ]
    assert _broken("name", "spor.registration.builder.build_registration", "README.md") is None
    assert _broken("name", "spor.tasks.runinfo.RunInfo.logical_date", "README.md") is None  # a dataclass field
    assert _broken("name", "spor.build.identity.validate_person_id", "README.md")  # only stored ids keep 0.2's path
    assert _broken("name", "spor.registrations.stage.created", "README.md") is None  # a metric
    assert _broken("name", "spor.registrations", "README.md") is None  # a metric cut at its <environment>
    assert _broken("name", "spor.registrations.stage", "README.md")  # not a whole metric
    assert _broken("path", "sql/extract/*.nosuch", "README.md")
    assert _broken("link", "docs/notes.md#no-such-heading", "README.md")
    changelog = "`spor.pii`\n## [Unreleased]\n`spor.lifecycle`\n## [0.2.0] - 2026-11-30\n`spor.states`\n"
    assert references("CHANGELOG.md", changelog) == [(1, "name", "spor.pii"), (3, "name", "spor.lifecycle")]


def test_the_check_finds_references():
    """Guards the check itself: a regex that stops matching would make the next test pass vacuously."""
    counts = {kind: 0 for kind in ("path", "link", "name")}
    for md in _markdown_files():
        for _, kind, _ in references(md):
            counts[kind] += 1
    assert all(n > 20 for n in counts.values()), counts


def test_every_path_link_and_name_in_the_docs_exists():
    broken = []
    for md in _markdown_files():
        for number, kind, ref in references(md):
            why = _broken(kind, ref, md)
            if why:
                broken.append(f"{md}:{number}: {kind} {ref} — {why}")
    assert not broken, f"{len(broken)} broken reference(s) in the docs:\n" + "\n".join(broken)
