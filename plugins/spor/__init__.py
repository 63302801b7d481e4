"""OPS → SPOR integration: build, check and send registrations to the Swedish Perioperative Register.

Importing this package is cheap: heavy libraries (pandas, zeep, Great Expectations) are imported
inside the functions that need them, so DAG parsing stays fast.
"""

__version__ = "0.3.0"


def require_version(specifier: str, dag_file: str = "this DAG file") -> None:
    """Fail the import of a DAG file whose package version range excludes the installed ``spor``.

    DAG files and the package travel separately (DAGs by git-sync, the wheel in the image), so a
    DAG file names the range it was written for and refuses to load against anything else.
    """
    from packaging.specifiers import SpecifierSet

    if __version__ not in SpecifierSet(specifier):
        raise ImportError(
            f"{dag_file} needs spor-airflow {specifier}, but {__version__} is installed: "
            f"install a matching spor-airflow into the Airflow image, or deploy the DAG files of {__version__}")
