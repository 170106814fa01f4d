"""A SageMaker job run by the local runner, for ``dag_support.LocalJobOperator``."""

from __future__ import annotations

from catalog_search.clients import Clients
from catalog_search.sagemaker.jobs import register_model
from catalog_search.sagemaker.local_runner import LocalRunner
from catalog_search.stages import Run


def run_locally(clients: Clients, run: Run, kind: str, config: dict) -> dict:
    """The job's description under the key the provider's operator returns it under (a model,
    created at once, is registered with the SageMaker API: moto locally)."""
    if kind == "model":
        register_model(clients.sagemaker, config)
        return {"Model": clients.sagemaker.describe_model(ModelName=config["ModelName"])}
    runner = LocalRunner.for_clients(clients)
    if kind == "processing":
        return {"Processing": runner.process(config)}
    if kind == "training":
        return {"Training": runner.train(config)}
    return {"Transform": runner.transform(config)}
