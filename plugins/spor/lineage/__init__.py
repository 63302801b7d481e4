"""Lineage for a data catalogue (docs/lineage.md): the OPS views a run reads and the SPOR
environment it sends to, as Airflow Assets with URI schemes of their own (``spor-ops``, ``spor``,
registered in ``get_provider_info``), and what a task reports about its run for OpenLineage.

The task bodies read the OPS through raw cursors and talk SOAP, so no extractor can see what they
read or write: the bodies declare it (:mod:`spor.lineage.report`), and the tasks' operator
(:mod:`spor.lineage.operator`) hands it to the OpenLineage provider when it is installed (extra
``[lineage]``). Without it nothing here imports OpenLineage; the Assets still work in Airflow.
"""
