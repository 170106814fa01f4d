"""One HTML page per DAG run: what each task did (its state and what it returned: snapshot
stats and change, pair report, training metrics and gate decision, embedding counts, index
stats, golden-query scores), and each validation suite's outcome with a link to its Data Docs.

Written by every DAG's last task (``dag_support.add_run_report``, a teardown, so it runs and
reports whatever happened before it) beside the run's other reports:
``reports/{dag_id}/{run}/index.html`` in the object store and under the work folder.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "web" / "templates"
PAGE = "index.html"
FAILURE_KEY = "failure"  # the XCom a failed try leaves for the report (Airflow clears it when the task is tried again)
FAILURE_LINES = 6  # of the error's message, on the page


@contextmanager
def recording_failure(ti: Any):
    """Run the body; when it raises, leave the error's first lines and the try number as the
    task's ``failure`` XCom, then raise it on. The page shows it next to a failed state.
    Without a task instance (an operator called outside Airflow) nothing is recorded."""
    try:
        yield
    except Exception as err:
        if ti is None:
            raise
        lines = f"{type(err).__name__}: {err}".splitlines()
        record = {"try_number": ti.try_number, "error": "\n".join(lines[:FAILURE_LINES])
                  + (f"\n… ({len(lines) - FAILURE_LINES} more lines in the task log)" if len(lines) > FAILURE_LINES else "")}
        try:
            ti.xcom_push(FAILURE_KEY, record)
        except Exception:  # the report is secondary: never hide the task's own error
            log.warning("could not record the failure for the run report", exc_info=True)
        raise


@dataclass(frozen=True)
class TaskOutcome:
    task_id: str
    state: str
    result: Any = None
    failure: dict | None = None  # {"try_number", "error"}: what the last try that failed raised

    @property
    def failed(self) -> bool:
        return self.state in ("failed", "upstream_failed", "up_for_retry")

    def facts(self) -> list[tuple[str, str]]:
        """The task's returned dict as (name, value) rows; nested values as compact JSON. A SageMaker
        job's description (what a job task returns) as its name, status and the instances it used."""
        if not isinstance(self.result, dict):
            return [] if self.result is None else [("result", _text(self.result))]
        if self.result and set(self.result) <= set(JOB_RESOURCES):
            return [row for kind, job in self.result.items() for row in job_facts(kind, job)]
        return [(str(k), _text(v)) for k, v in self.result.items()]


# A job task's result keys (the provider's operators' and the local runner's alike: a transform's
# task returns its model beside it), and where each description keeps the instances it ran on.
JOB_RESOURCES = {"Processing": ("ProcessingResources", "ClusterConfig"), "Training": ("ResourceConfig",),
                 "Transform": ("TransformResources",), "Model": ()}


def job_facts(kind: str, job: dict) -> list[tuple[str, str]]:
    """A job's description as the page's rows: its name, its status and the instances it used."""
    name = "ModelName" if kind == "Model" else f"{kind}JobName"
    rows = [(kind.lower(), str(job.get(name, "")))]
    if f"{kind}JobStatus" in job:
        rows.append(("status", str(job[f"{kind}JobStatus"])))
    resources: Any = job
    for key in JOB_RESOURCES[kind]:
        resources = resources.get(key, {}) if isinstance(resources, dict) else {}
    if isinstance(resources, dict) and resources.get("InstanceType"):
        rows.append(("instances", f"{resources.get('InstanceCount', 1)} × {resources['InstanceType']}"))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)[:2000]


SUITE_FIELDS = {"suite", "where", "rows", "success", "results", "data_docs", "data_docs_uri"}


def render(dag_id: str, run_id: str, outcomes: list[TaskOutcome], suites: list[dict]) -> str:
    """The page; a suite report's own extra fields (a snapshot's change against the previous one) are shown too."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    failed = [o.task_id for o in outcomes if o.state in ("failed", "upstream_failed")]
    extras = [[(k, _text(v)) for k, v in suite.items() if k not in SUITE_FIELDS and v is not None] for suite in suites]
    return env.get_template("run_report.html").render(
        dag_id=dag_id, run_id=run_id, outcomes=outcomes, suites=list(zip(suites, extras)), failed=failed,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
