"""The Airflow UI plugin: a "SPOR reports" tab on every DAG run, served from the state database."""
