"""What Airflow learns about this package as a provider (entry point ``apache_airflow_provider``).

The connection type ``spor`` gets its own form in Admin → Connections: the fields below are Extra
keys that :class:`spor.transport.connection.SporConnectionConfig` reads (it refuses unknown keys),
the host field is relabelled as the endpoint, and fields that do not apply are hidden. Airflow
reads this without importing the hook, so it stays free of heavy imports.
"""

from __future__ import annotations

from spor import __version__

ENDPOINTS = {
    "production": "https://integration.ucr.uu.se/spor/ws/4_1/RegistrationService",
    "stage": "https://test-integration.ucr.uu.se/spor/ws/4_1/RegistrationService",
    "stage-test-cert": "https://ucrtestserv01.ucr.uu.se/spor/ws/4_1/RegistrationService",
}


def _text(label: str, description: str, *, secret: bool = False) -> dict:
    schema: dict = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"  # Airflow masks it in the form and in logs
    return {"label": label, "description": description, "schema": schema}


def _number(label: str, description: str, kind: str, default: float) -> dict:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], "default": default}}


CONN_FIELDS = {
    "environment": {
        "label": "SPOR environment",
        "description": "Which SPOR this connection reaches; the ledger keeps each environment apart.",
        # Optional through its type: a None in the enum would be offered in the select as "null".
        "schema": {"type": ["string", "null"], "enum": ["production", "stage", "stage-test-cert"]},
    },
    "cert_file": _text("Certificate file (PEM)", "Path on the worker of the SITHS function certificate, PEM, chain after it."),
    "key_file": _text("Key file (PEM)", "Path on the worker of its private key (encrypted: put the password in Password)."),
    "cert_pem": _text("Certificate (PEM content)", "The certificate as PEM text, e.g. from a secrets backend."),
    "key_pem": _text("Key (PEM content)", "The private key as PEM text.", secret=True),
    "pkcs12_file": _text("PKCS#12 file", "Path on the worker of a .p12/.pfx; its password goes in Password."),
    "pkcs12_b64": _text("PKCS#12 (base64 content)", "The .p12/.pfx file encoded in base64, e.g. from a secrets backend.",
                        secret=True),
    "ca_bundle": _text("CA file (PEM)", "The only CA trusted for SPOR's server: SITHS Type 3 CA v1 (PP for stage-test-cert)."),
    "ca_pem": _text("CA (PEM content)", "The same CA as PEM text."),
    "proxy": _text("HTTPS proxy", "Explicit proxy URL, e.g. http://proxy.region.se:8080 (environment proxies are ignored)."),
    "wsdl_location": _text("WSDL location", "Folder or .wsdl file of UCR's WSDL; empty = the WSDL shipped with the package."),
    "connect_timeout": _number("Connect timeout (s)", "Seconds to open a connection.", "number", 10),
    "read_timeout": _number("Read timeout (s)", "Seconds to wait for SPOR's answer.", "number", 60),
    "pool_size": _number("Connection pool size", "Keep-alive connections per worker process (≥ threads per task).",
                         "integer", 8),
}

UI_FIELD_BEHAVIOUR = {
    # Port stays visible: Airflow 3.3.2's Test of a stored connection sends 0 for an empty port and then
    # refuses it as "differs from the stored connection"; a stored 443 (or the endpoint's) agrees.
    "hidden-fields": ["schema", "login"],
    "relabeling": {"host": "Endpoint URL", "password": "Key or PKCS#12 password",
                   "port": "Port (443, or the endpoint URL's own)"},
    "placeholders": {
        "host": ENDPOINTS["stage"],
        "port": "443",
        "password": "password of an encrypted key or of the PKCS#12",
        "environment": "stage",
        "cert_file": "/opt/airflow/secrets/spor/client.pem",
        "key_file": "/opt/airflow/secrets/spor/client.key",
        "ca_bundle": "/opt/airflow/secrets/spor/siths-type3-ca-v1.pem",
        "proxy": "http://proxy.region.se:8080",
    },
}


ASSET_URIS = [
    {
        "schemes": ["spor-ops"],
        "handler": "spor.lineage.assets.sanitize_ops_uri",
        "factory": "spor.lineage.assets.create_ops_asset",
        "to_openlineage_converter": "spor.lineage.assets.ops_to_openlineage",
    },
    {
        "schemes": ["spor"],
        "handler": "spor.lineage.assets.sanitize_spor_uri",
        "factory": "spor.lineage.assets.create_spor_asset",
        "to_openlineage_converter": "spor.lineage.assets.spor_to_openlineage",
    },
]


def get_provider_info() -> dict:
    return {
        "package-name": "spor-airflow",
        "name": "SPOR",
        "description": "Send a hospital's operations to SPOR, the Swedish Perioperative Register "
                       "(RegistrationService 4.1, SOAP over mutual TLS).",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "spor",
                "hook-class-name": "spor.hooks.spor.SporHook",
                "hook-name": "SPOR RegistrationService",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "hooks": [{"integration-name": "SPOR", "python-modules": ["spor.hooks.spor", "spor.hooks.state"]}],
        # Asset URIs of the OPS views a run reads and of the SPOR environment it sends to: how
        # Airflow normalises and builds them and how OpenLineage names them (docs/lineage.md).
        "asset-uris": ASSET_URIS,
        "config": {
            "spor": {
                "description": "Where the SPOR tasks run (read when the DAG files are parsed).\n",
                "options": {
                    "certificate_queue": {
                        "description": "The queue of the tasks that use the SITHS function certificate "
                                       "(``send_batch`` and ``check_certificate``), for executors that "
                                       "route by queue (Celery): only workers listening on it need the "
                                       "certificate. Empty: the default queue, like every other task.\n",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "spor_certificate",
                        "default": "",
                    },
                    "certificate_secret": {
                        "description": "The Kubernetes secret that holds the SITHS function certificate, for "
                                       "the KubernetesExecutor: ``send_batch`` and ``check_certificate`` get "
                                       "a ``pod_override`` that mounts it read-only at "
                                       "``certificate_mount_path``, and no other task does. Needs "
                                       "spor-airflow[kubernetes]. Empty: no ``executor_config``.\n",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "spor-certificate",
                        "default": "",
                    },
                    "certificate_mount_path": {
                        "description": "Where the pods of the certificate see the secret's files; the "
                                       "connection's ``cert_file``/``key_file``/``ca_bundle`` point into it.\n",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "/opt/spor/certificate",
                        "default": "/opt/spor/certificate",
                    },
                    "certificate_run_as_user": {
                        "description": "The user the pods of the certificate run as (``runAsUser``): the "
                                       "image's user, the Helm chart's ``uid``.\n",
                        "version_added": "0.3.0",
                        "type": "integer",
                        "example": "50000",
                        "default": "50000",
                    },
                    "certificate_fs_group": {
                        "description": "The ``fsGroup`` of the pods of the certificate: Kubernetes gives "
                                       "the secret's files to this group and makes them readable by it "
                                       "(0440). A group of its own keeps the key from the image's group 0.\n",
                        "version_added": "0.3.0",
                        "type": "integer",
                        "example": "50000",
                        "default": "50000",
                    },
                    "pool": {
                        "description": "The Airflow pool of the send tasks (``send_batch``). Its slots "
                                       "bound how many batches send at once; keep ``spor_config``'s "
                                       "``pool_slots`` equal to them (the capacity estimate).\n",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "spor",
                        "default": "spor",
                    },
                    "backfill_pool": {
                        "description": "The Airflow pool of the send tasks of ``spor_resend`` and of "
                                       "backfill runs of ``spor_nightly``, so that they cannot take the "
                                       "nightly's slots (``[spor] pool``). Empty: the nightly's pool. "
                                       "Create the pool with its slots; backfill runs get it through the "
                                       "provider's cluster policy (``airflow.policy`` entry point).\n",
                        "version_added": "0.3.0",
                        "type": "string",
                        "example": "spor_backfill",
                        "default": "",
                    },
                },
            },
        },
    }
