"""Unit -> SystemId mapping is configuration (issue 2 point 1): dict, JSON text or file, or the
Airflow Variable spor_units / AIRFLOW_VAR_SPOR_UNITS; an unknown unit maps to None."""

from __future__ import annotations

import pytest

from spor.errors import ConfigurationError
from spor.registration.units import UnitMapping, load_units


def test_unit_mapping_from_dict_json_and_file(tmp_path):
    path = tmp_path / "units.json"
    path.write_text('{"OP-A": "SE2321000016-OPA1"}')
    for source in ({"OP-A": "SE2321000016-OPA1"}, '{"OP-A": "SE2321000016-OPA1"}', str(path), path):
        units = load_units(source)
        assert units.system_id("OP-A") == "SE2321000016-OPA1"
        assert units.system_id(" OP-A ") == "SE2321000016-OPA1"
        assert units.system_id("OP-X") is None and units.system_id(None) is None


def test_unit_mapping_from_airflow_variable_environment(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SPOR_UNITS", '{"OP-B": "SE2321000016-OPB1"}')
    assert load_units().system_id("OP-B") == "SE2321000016-OPB1"


def test_unit_mapping_rejects_bad_configuration(tmp_path):
    with pytest.raises(ConfigurationError):
        load_units("[1, 2]")
    with pytest.raises(ConfigurationError):
        load_units('{"OP-A": ""}')
    with pytest.raises(ConfigurationError):
        load_units("{not json")
    with pytest.raises(ConfigurationError):
        load_units(str(tmp_path / "missing.json"))
    assert isinstance(load_units({}), UnitMapping)


def test_extended_form_carries_system_id_and_approvals_and_mixes_with_the_plain_form():
    units = load_units({"OP-A": "SE2321000016-OPA1",
                        "OP-B": {"system_id": "SE2321000016-OPB1",
                                 "approved": {"production": {"date": "2026-03-02", "reference": "UCR ärende 4711"}}}})
    assert units.as_dict() == {"OP-A": "SE2321000016-OPA1", "OP-B": "SE2321000016-OPB1"}
    approval = units.approval("OP-B", "production")
    assert approval is not None and approval.date.isoformat() == "2026-03-02" and approval.reference == "UCR ärende 4711"
    assert units.approval("OP-A", "production") is None and units.approval("OP-B", "stage") is None
    assert [u.name for u in units.units()] == ["OP-A", "OP-B"]


def test_extended_form_rejects_what_it_cannot_read():
    for bad in ({"OP-A": {"approved": {}}},                                                  # no SystemId
                {"OP-A": {"system_id": "S1", "approved": {"prod": {"date": "2026-01-01"}}}},  # unknown environment
                {"OP-A": {"system_id": "S1", "approved": {"production": {"date": "1 mars"}}}},
                {"OP-A": {"system_id": "S1", "approved": {"production": {}}}},
                {"OP-A": {"system_id": "S1", "approval": {}}}):                              # a typo is not ignored
        with pytest.raises(ConfigurationError):
            load_units(bad)
