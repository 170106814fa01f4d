"""A SageMaker job run by the local runner, for ``dag_support.LocalJobOperator``."""

from __future__ import annotations

from catalog_search.clients import Clients
from catalog_search.runners import LocalRunner
from catalog_search.stages import Run


def run_locally(clients: Clients, run: Run, kind: str, config: dict) -> dict:
    """The job's description under the key the provider's operator returns it under."""
    runner = LocalRunner.for_clients(clients)
    if kind == "training":
        return {"Training": runner.train(config)}
    return {"Transform": runner.transform(config)}
