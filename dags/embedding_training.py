"""Train Object2Vec on stratified product pairs of a snapshot, gate it on its metrics, and
publish the champion model asset."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from catalog_search.dag_support import CATALOG_SNAPSHOT, DEFAULT_ARGS, EMBEDDING_MODEL, TAGS, emit, given, run_stage, sagemaker_job

with DAG(
    dag_id="embedding_training",
    doc_md="""
### embedding_training
pairs → vocabulary → Object2Vec training → metric gate → champion.

* **pairs**: stratified same-category (positive) / different-category (negative, a share of them
  hard: sibling categories) pairs, split by product into train/validation/test, checked by the
  pairs suite (Data Docs under `reports/`), as Object2Vec JSON Lines under
  `training/{snapshot_id}/{run}/` with `auxiliary/vocab.json` (and the trimmed pretrained
  embeddings when `CATALOG_SEARCH_PRETRAINED_EMBEDDINGS` is set) and a sampling report.
* **train**: a SageMaker training job through the provider's deferrable operator (waiting on the
  triggerer; a retry re-attaches to the running job, and a job that failed or stopped is followed
  by `{name}-a2` …), or the local runner (`CATALOG_SEARCH_RUNNER=local`); the job's name is the
  model version; model at `models/{model_version}/output/model.tar.gz`.
* **gate**: every model of a taxonomy is tested on the same frozen evaluation set
  (`evaluation/{taxonomy}/pairs.parquet`, frozen by the taxonomy's first run, its products kept
  out of training): `test:accuracy` and `test:cross_entropy` must meet their thresholds and not
  fall behind the champion's on the same set, and the leaf-category purity@10 of a product
  sample's neighbours (embedded by the model through Batch Transform) must reach its minimum. A
  failed gate raises with the numbers and nothing is published. Passing registers the SageMaker
  model and writes `models/champion.json`, emitting the **embedding model** asset.

Runs weekly, or on demand with `snapshot_id` in the conf (default: the newest snapshot).
""",
    schedule="0 3 * * 0",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=TAGS + ["training"],
    params={"snapshot_id": Param(None, type=["null", "string"], description="Snapshot to train on (default: newest)")},
) as dag:

    @task
    def resolve_snapshot() -> str:
        return run_stage("training.resolve_snapshot", **given("snapshot_id", assets=(CATALOG_SNAPSHOT,)))

    @task
    def prepare_training_data(snapshot_id: str) -> dict:
        return run_stage("training.prepare_training_data", snapshot_id=snapshot_id)

    @task
    def training_config(snapshot_id: str, training: dict) -> dict:
        return run_stage("training.training_config", snapshot_id=snapshot_id, training=training)

    @task
    def record_training(snapshot_id: str, training: dict, config: dict, job: dict) -> dict:
        return run_stage("training.record_training", snapshot_id=snapshot_id, training=training, config=config, job=job)

    @task(outlets=[EMBEDDING_MODEL])
    def gate_and_promote(trained: dict) -> dict:
        record = run_stage("training.gate_and_promote", trained=trained)
        emit(EMBEDDING_MODEL, model_version=record["model_version"], snapshot_id=record["snapshot_id"])
        return record

    snapshot = resolve_snapshot()
    training = prepare_training_data(snapshot)
    config = training_config(snapshot, training)
    train = sagemaker_job("train", "training", config)
    gate_and_promote(record_training(snapshot, training, config, train.output))
