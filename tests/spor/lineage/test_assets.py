"""The package's asset URI schemes: Airflow finds them through the provider, normalises and
builds the Assets with them, and OpenLineage names them as docs/lineage.md says."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from spor.get_provider_info import get_provider_info
from spor.lineage import assets


def test_the_provider_registers_both_schemes_with_handler_factory_and_converter():
    """Airflow's ProvidersManager reads them from the entry point (the editable install has it)."""
    from airflow.providers_manager import ProvidersManager

    declared = {s for entry in get_provider_info()["asset-uris"] for s in entry["schemes"]}
    assert declared == {assets.OPS_SCHEME, assets.SPOR_SCHEME}
    manager = ProvidersManager()
    assert manager.asset_uri_handlers["spor"] is assets.sanitize_spor_uri
    assert manager.asset_factories["spor-ops"] is assets.create_ops_asset
    assert manager.asset_to_openlineage_converters["spor-ops"] is assets.ops_to_openlineage
    assert manager.asset_to_openlineage_converters["spor"] is assets.spor_to_openlineage


def test_a_spor_asset_is_the_endpoint_host_and_the_environment():
    asset = assets.create_spor_asset(endpoint="https://Integration.UCR.uu.se/spor/ws/4_1/RegistrationService",
                                     environment="production")
    assert asset.uri == "spor://integration.ucr.uu.se/production"
    assert asset.name == asset.uri  # a site's Asset("spor://…") is this asset
    dataset = assets.spor_to_openlineage(asset)
    assert (dataset.namespace, dataset.name) == ("spor://integration.ucr.uu.se", "production")
    local = assets.create_spor_asset(endpoint="https://127.0.0.1:8443/x", environment="stage")
    assert local.uri == "spor://127.0.0.1:8443/stage"


def test_the_spor_handler_normalises_and_refuses_what_is_not_one_environment():
    from airflow.sdk import Asset

    assert Asset("spor://Integration.ucr.uu.se:443/Production/").uri == "spor://integration.ucr.uu.se/production"
    with pytest.raises(ValueError, match="environment"):
        assets.sanitize_spor_uri(urlsplit("spor://host/a/b"))
    with pytest.raises(ValueError, match="host"):
        assets.sanitize_spor_uri(urlsplit("spor:///stage"))


def test_ops_assets_of_a_server_connection_follow_openlineage_sql_naming():
    conn = SimpleNamespace(conn_type="postgres", host="OPS-DB.region.se", port=None, schema="opsdb",
                           login="reader", password="secret", extra_dejson={})
    found = assets.ops_assets(conn)
    assert [a.uri for a in found][:2] == ["spor-ops://ops-db.region.se:5432/opsdb/spor_behandling?dialect=postgres",
                                          "spor-ops://ops-db.region.se:5432/opsdb/spor_operationskod?dialect=postgres"]
    assert len(found) == len(assets.OPS_VIEWS)
    assert not any("reader" in a.uri or "secret" in a.uri for a in found)
    dataset = assets.ops_to_openlineage(found[0])
    assert (dataset.namespace, dataset.name) == ("postgres://ops-db.region.se:5432", "opsdb.spor_behandling")


def test_ops_assets_of_a_sqlite_file_name_the_file_in_the_namespace():
    conn = SimpleNamespace(conn_type="sqlite", host="/srv/ops/ops.sqlite", port=None, schema=None, extra_dejson={})
    asset = assets.ops_assets(conn, ("spor_diagnos",))[0]
    assert asset.uri == "spor-ops://localhost/srv/ops/ops.sqlite/spor_diagnos?dialect=sqlite"
    dataset = assets.ops_to_openlineage(asset)
    assert (dataset.namespace, dataset.name) == ("sqlite://localhost/srv/ops/ops.sqlite", "spor_diagnos")


def test_the_ops_handler_needs_a_dialect_a_database_and_a_view():
    with pytest.raises(ValueError, match="dialect"):
        assets.sanitize_ops_uri(urlsplit("spor-ops://h/db/view"))
    with pytest.raises(ValueError, match="DATABASE/VIEW"):
        assets.sanitize_ops_uri(urlsplit("spor-ops://h/view?dialect=mssql"))
    assert assets.sanitize_ops_uri(urlsplit("spor-ops://H/db/v?dialect=MSSQL")).geturl() == \
        "spor-ops://h:1433/db/v?dialect=mssql"
