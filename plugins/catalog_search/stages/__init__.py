"""The pipeline's stages, one module per DAG; every stage has the same shape::

    stage(clients: Clients, run: Run, **keys) -> dict

Clients and settings in (``clients.settings``), the run that asks (its keys name the outputs
and reports), the keys of the input artifacts (snapshot id, model version, …); keyed artifacts
written to the object store, DynamoDB or OpenSearch; a small JSON-able dict out (what a DAG
passes on through XCom). DAG tasks call them through ``dag_support.run_stage``; tests call
them directly with clients pointed at moto and the local node.

| DAG | module |
|---|---|
| catalog_refresh | ``stages.refresh`` |
| embedding_training | ``stages.training`` |
| catalog_enrichment | ``stages.enrichment`` |
| search_index_publish, search_index_rollback | ``stages.publish`` |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from catalog_search.naming import short_hash, slug
from catalog_search.store.object_keys import ObjectKeys


@dataclass(frozen=True)
class Run:
    """The run a stage works for: Airflow's DAG id and run id, or any stable pair of names."""

    dag_id: str
    run_id: str
    logical_date: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> str:
        """A path-safe key of the run id that stays the same when the run is retried."""
        return f"{slug(self.run_id, 48)}-{short_hash(self.run_id, length=6)}"

    @property
    def report_prefix(self) -> str:
        return ObjectKeys.report(self.dag_id, self.run_id)
