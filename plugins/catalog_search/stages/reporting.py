"""Every DAG's run report (``run_report``), for ``dag_support.add_run_report``."""

from __future__ import annotations

import logging

from catalog_search import run_report
from catalog_search.clients import Clients
from catalog_search.stages import Run

log = logging.getLogger(__name__)


def write_run_report(clients: Clients, run: Run, outcomes: list[dict]) -> dict:
    """The run's page beside its suite reports and Data Docs, in the object store and locally."""
    settings, store = clients.settings, clients.store
    prefix = run.report_prefix
    suites = [store.get_json(key) for key in store.list_keys(prefix) if key.endswith(".json") and "/data_docs/" not in key]
    page = run_report.render(run.dag_id, run.run_id, [run_report.TaskOutcome(**o) for o in outcomes], suites)
    local = settings.work_dir / prefix / run_report.PAGE
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(page, encoding="utf-8")
    uri = store.upload_file(local, prefix + run_report.PAGE)
    log.info("run report: %s (open in a browser: file://%s)", uri, local.resolve())
    return {"report": uri, "local": str(local.resolve())}
