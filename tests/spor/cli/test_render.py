"""`spor render` on 5,000 generated treatments: the rendered set equals the manifest's buildable,
unblocked set exactly; every file passes xmllint against the shipped XSD; every unrendered,
unblocked treatment is reported with the verdict line of the run summary (quarantined by the
gate, identity unknown, or not buildable, with the manifest's rule); no empty element; no identity
number in stdout or manifest; blocked treatments (R11/D20) are neither rendered nor printed.
That render and the night agree treatment by treatment is tests/dags/test_render_matches_night.py."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from spor.synthetic import Manifest, generate
from tests.conftest import PLUGINS, ROOT

XSD = PLUGINS / "spor" / "schema" / "spor-registration-4_1.xsd"
LINE = re.compile(r"^(\S+)\s+(quarantined|not_buildable|identity_unknown)\s+\[([^\]]+)\]\s*(.*)$")


def _render(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "spor", "render", *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=300)


def _reported(stdout: str) -> dict[str, dict[str, str]]:
    """behandlingsnummer -> state and rule of every treatment render says the night does not send."""
    out = {}
    for line in stdout.splitlines():
        m = LINE.match(line)
        if m:
            bnr, state, rule, _rest = m.groups()
            assert bnr not in out, f"{bnr} reported twice"
            out[bnr] = {"state": state, "rule": rule}
    return out


def _agrees_with_manifest(reported: dict[str, dict[str, str]], expected: dict[str, dict[str, str]]) -> None:
    """Same treatments; identity unknown stays identity unknown; the manifest's rule is named
    (the gate names it by its expectation, e.g. mandatory-V310 for the manifest's mandatory)."""
    assert set(reported) == set(expected)
    for bnr, e in expected.items():
        got = reported[bnr]
        if e["state"] == "identity_unknown":
            assert got["state"] == "identity_unknown", bnr
        else:
            assert got["state"] in ("quarantined", "not_buildable"), bnr
            assert got["rule"].startswith(e["rule"]), (bnr, got, e)


@pytest.fixture(scope="module")
def rendered_5000(tmp_path_factory):
    work = tmp_path_factory.mktemp("render")
    db = work / "ops.sqlite"
    manifest = generate(f"sqlite:///{db}", n=5000, seed=1)
    units = work / "units.json"
    units.write_text(json.dumps(manifest.units))
    out = work / "out"
    result = _render("--db", f"sqlite:///{db}", "--out", str(out), "--all", "--units", str(units))
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT personnummer FROM spor_behandling")]
    ids += [r[0] for r in conn.execute("SELECT personnummer FROM spor_sparrlista")]
    conn.close()
    return db, manifest, out, result.stdout, ids


def test_acceptance_rendered_set_equals_manifest_buildable_unblocked(rendered_5000):
    _db, manifest, out, stdout, _ = rendered_5000
    files = {p.stem for p in out.glob("*.xml")}
    assert files == manifest.expected_rendered()
    assert len(files) > 4000
    last = re.match(r"^rendered (\d+) \(warned \d+\), quarantined (\d+), not buildable (\d+), "
                    r"identity unknown (\d+), blocked (\d+)$", stdout.strip().splitlines()[-1])
    rendered, quarantined, not_buildable, identity_unknown, blocked = map(int, last.groups())
    assert (rendered, blocked) == (len(files), len(manifest.blocked()))
    assert quarantined + not_buildable + identity_unknown == len(manifest.not_buildable())
    assert identity_unknown == sum(1 for e in manifest.not_buildable().values() if e["state"] == "identity_unknown")


def test_acceptance_every_unrendered_treatment_reported_with_the_manifests_rule(rendered_5000):
    _db, manifest, _out, stdout, _ = rendered_5000
    reported = _reported(stdout)
    _agrees_with_manifest(reported, manifest.not_buildable())
    # every kind of build defect shows up, so the comparison above means something
    assert {e["rule"] for e in manifest.not_buildable().values()} >= {"D17", "D15", "D11", "D5", "D13", "mandatory",
                                                                      "unit-mapping"}
    assert "identity_unknown" in {e["state"] for e in reported.values()}


def test_acceptance_r11_blocked_treatments_never_rendered_nor_printed(rendered_5000):
    _db, manifest, out, stdout, _ = rendered_5000
    blocked = manifest.blocked()
    assert blocked and any(manifest.treatments[b].defects for b in blocked)  # even with a defect
    printed = set(re.findall(r"\b\d{7}\b", stdout))
    assert not printed & set(blocked)
    assert not {p.stem for p in out.glob("*.xml")} & set(blocked)


def test_acceptance_every_file_passes_xmllint_against_the_shipped_xsd(rendered_5000, xmllint):
    _db, _manifest, out, _stdout, _ = rendered_5000
    files = sorted(str(p) for p in out.glob("*.xml"))
    result = subprocess.run([xmllint, "--noout", "--schema", str(XSD), *files], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count(" validates") == len(files)


def test_acceptance_r12_no_empty_element_in_any_file(rendered_5000):
    from lxml import etree

    _db, _manifest, out, _stdout, _ = rendered_5000
    for path in out.glob("*.xml"):
        root = etree.fromstring(path.read_bytes())
        assert etree.QName(root).localname == "postRegistrationRequest"
        for el in root.iter():
            assert len(el) or (el.text and el.text.strip()), f"{path.name}: empty <{etree.QName(el).localname}>"


def test_acceptance_no_identity_number_in_stdout_manifest_or_file_names(rendered_5000):
    db, _manifest, out, stdout, ids = rendered_5000
    manifest_text = Path(f"{db}.manifest.json").read_text()
    names = " ".join(p.name for p in out.iterdir())
    for value in ids:
        for form in {value, value.replace("-", "")}:
            assert form not in stdout and form not in manifest_text and form not in names


def test_render_listed_numbers_reports_each_and_counts_blocked(rendered_5000, tmp_path):
    db, manifest, _out, _stdout, _ = rendered_5000
    good = sorted(manifest.expected_rendered())[0]
    bad, expected = sorted(manifest.not_buildable().items())[0]
    blocked = sorted(manifest.blocked())[0]
    out = tmp_path / "some"
    result = _render("--db", f"sqlite:///{db}", "--out", str(out), "--behandlingsnummer", good, bad, blocked, "9999999",
                     "--units", json.dumps(manifest.units))
    assert result.returncode == 0, result.stderr
    assert {p.stem for p in out.glob("*.xml")} == {good}
    _agrees_with_manifest(_reported(result.stdout), {bad: expected})
    assert blocked not in result.stdout
    assert "not found: 9999999" in result.stdout
    assert result.stdout.strip().splitlines()[-1].endswith("blocked 1, not found 1")


def test_render_r11_unreadable_block_list_renders_nothing(tmp_path):
    db = tmp_path / "ops.sqlite"
    manifest = generate(f"sqlite:///{db}", n=30, seed=1)
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE spor_sparrlista RENAME TO gone")
    conn.commit()
    conn.close()
    result = _render("--db", f"sqlite:///{db}", "--out", str(tmp_path / "out"), "--all", "--units", json.dumps(manifest.units))
    assert result.returncode == 3
    assert "block list" in result.stderr and "R11" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_render_without_unit_mapping_is_a_configuration_error(tmp_path):
    db = tmp_path / "ops.sqlite"
    generate(f"sqlite:///{db}", n=10, seed=1)
    result = _render("--db", f"sqlite:///{db}", "--out", str(tmp_path / "out"), "--all",
                     env={"AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert result.returncode == 2
    assert "spor_units" in result.stderr


def test_render_from_an_airflow_connection_id_and_units_variable(tmp_path):
    db = tmp_path / "ops.sqlite"
    manifest = generate(f"sqlite:///{db}", n=80, seed=2)
    env = {"AIRFLOW_CONN_SPOR_OPS": "sqlite://" + quote(str(db), safe=""),
           "AIRFLOW_VAR_SPOR_UNITS": json.dumps(manifest.units),
           "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = _render("--db", "spor_ops", "--out", str(tmp_path / "out"), "--all", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {p.stem for p in (tmp_path / "out").glob("*.xml")} == manifest.expected_rendered()


def test_render_from_postgresql_matches_the_manifest(postgres_url, tmp_path):
    schema = f"spor_render_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.engine.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}) \
            .render_as_string(hide_password=False)
        manifest = generate(url, n=300, seed=6)
        result = _render("--db", url, "--out", str(tmp_path / "out"), "--all", "--units", json.dumps(manifest.units))
        assert result.returncode == 0, result.stderr[-2000:]
        assert {p.stem for p in (tmp_path / "out").glob("*.xml")} == manifest.expected_rendered()
        _agrees_with_manifest(_reported(result.stdout), manifest.not_buildable())
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_manifest_file_is_the_published_format(rendered_5000):
    db, manifest, *_ = rendered_5000
    data = json.loads(Path(f"{db}.manifest.json").read_text())
    assert data["format"] == "spor-synthetic-manifest/1"
    entry = next(iter(data["treatments"].values()))
    assert set(entry) == {"scenario", "akut", "enhet", "andrad_tid", "features", "defects", "blocked", "buildable", "expected"}
    assert Manifest.load(f"{db}.manifest.json").expected_rendered() == manifest.expected_rendered()
