"""For a deployment that syncs ``plugins/`` into Airflow's plugins folder instead of installing the
package: registers the SPOR plugin (pages and the 05:00 deadline reference) from here. When the
package is installed, its entry point registers the same plugin and this file stays silent (the
same plugin twice is an import error).
"""

from importlib.metadata import entry_points

if not any(ep.value.startswith("spor.plugin:") for ep in entry_points(group="airflow.plugins")):
    from spor.plugin import SporPlugin  # noqa: F401 - Airflow's loader finds it in this module
