"""Train Object2Vec on stratified product pairs of a snapshot, gate it on its metrics, and
publish the champion model asset."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from catalog_search.dag_support import CATALOG_SNAPSHOT, DEFAULT_ARGS, EMBEDDING_MODEL, TAGS, add_run_report, emit, given, run_stage, sagemaker_job
from catalog_search.settings import Settings

APPROVAL_POKE_INTERVAL = 300  # seconds
APPROVAL_TIMEOUT = timedelta(days=7)  # a version nobody approved within a week fails the run

with DAG(
    dag_id="embedding_training",
    doc_md="""
### embedding_training
word vectors → pairs → vocabulary → Object2Vec training → model → metric gate → registry → approval → champion.

* **build_word_vectors**: a SageMaker Processing job running `include/jobs/build_word_vectors.py`
  (`CATALOG_SEARCH_PRETRAINED_EMBEDDINGS=minilm`): all-MiniLM-L6-v2 vectors of every word of the
  snapshot's titles and of the model's lexicon, under `vectors/minilm/{snapshot_id}/`; skipped,
  saying why, when other vectors are configured or the snapshot's exist.
* **prepare_training_data**: a SageMaker Processing job running `include/jobs/prepare_training_data.py`
  (shipped with the library; the local runner runs the same entry point on the same inputs):
  stratified same-category (positive) / different-category (negative, a share of them
  hard: sibling categories) pairs, split by product into train/validation/test, checked by the
  pairs suite in the job, its report published by **check_training_data** (Data Docs under `reports/`;
  a failed suite stops the run there), as Object2Vec JSON Lines under
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
  sample's neighbours (embedded by the model through Batch Transform, **embed_purity_sample**)
  must reach its minimum. A
  failed gate raises with the numbers and nothing is published. Passing registers a version in
  the Model Registry: approved at once (`CATALOG_SEARCH_MODEL_APPROVAL=auto`), or pending until a
  person approves it (`manual`: **await_approval** reschedules itself, holding no worker, for up
  to 7 days; a rejection fails the run with the reviewer's note).
* **promote**: writes `models/champion.json` (never back to a model of an older snapshot),
  emitting the **embedding model** asset.

Runs weekly, or on demand with `snapshot_id` in the conf (default: the newest snapshot).
""",
    schedule=Settings.from_env().training_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "training"],
    params={"snapshot_id": Param(None, type=["null", "string"], description="Snapshot to train on (default: newest)")},
) as dag:

    @task
    def resolve_snapshot() -> str:
        return run_stage("training.resolve_snapshot", **given("snapshot_id", assets=(CATALOG_SNAPSHOT,)))

    @task
    def word_vectors_config(snapshot_id: str) -> dict:
        return run_stage("training.word_vectors_config", snapshot_id=snapshot_id)

    @task(trigger_rule="none_failed")  # after build_word_vectors, which skips when none are needed
    def processing_config(snapshot_id: str) -> dict:
        return run_stage("training.processing_config", snapshot_id=snapshot_id)

    @task
    def check_training_data(snapshot_id: str, job: dict) -> dict:
        return run_stage("training.check_training_data", snapshot_id=snapshot_id, job=job)

    @task
    def training_config(snapshot_id: str, training: dict) -> dict:
        return run_stage("training.training_config", snapshot_id=snapshot_id, training=training)

    @task
    def record_training(snapshot_id: str, training: dict, config: dict, job: dict) -> dict:
        return run_stage("training.record_training", snapshot_id=snapshot_id, training=training, config=config, job=job)

    @task
    def model_config(trained: dict) -> dict:
        return run_stage("training.model_config", trained=trained)

    @task
    def purity_transform_config(trained: dict) -> dict:
        return run_stage("training.purity_transform_config", trained=trained)

    @task
    def gate_and_register(trained: dict) -> dict:
        return run_stage("training.gate_and_register", trained=trained)

    # Waits between pokes without a worker slot: minutes when a person approves (manual mode),
    # one poke when the gate approved (auto).
    @task.sensor(mode="reschedule", poke_interval=APPROVAL_POKE_INTERVAL, timeout=APPROVAL_TIMEOUT.total_seconds())
    def await_approval(candidate: dict) -> bool:
        return run_stage("training.approved", candidate=candidate)

    @task(outlets=[EMBEDDING_MODEL])
    def promote(candidate: dict) -> dict:
        record = run_stage("training.promote", candidate=candidate)
        emit(EMBEDDING_MODEL, model_version=record["model_version"], snapshot_id=record["snapshot_id"])
        return record

    snapshot = resolve_snapshot()
    vectors = sagemaker_job("build_word_vectors", "processing", word_vectors_config(snapshot))
    prepare_config = processing_config(snapshot)
    vectors >> prepare_config
    prepare = sagemaker_job("prepare_training_data", "processing", prepare_config)
    training = check_training_data(snapshot, prepare.output)
    config = training_config(snapshot, training)
    train = sagemaker_job("train", "training", config)
    trained = record_training(snapshot, training, config, train.output)
    model = sagemaker_job("create_model", "model", model_config(trained))
    purity_config = purity_transform_config(trained)
    model >> purity_config  # the gate's product sample is embedded by the model
    embed_sample = sagemaker_job("embed_purity_sample", "transform", purity_config)
    candidate = gate_and_register(trained)
    embed_sample >> candidate
    await_approval(candidate) >> promote(candidate)
    add_run_report(dag)
