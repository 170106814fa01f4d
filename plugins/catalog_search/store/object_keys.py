"""Object-store keys (S3 on AWS, moto locally): the one place that spells them.

Every prefix is keyed by catalog snapshot and run (or model version) and immutable once
written (the frozen evaluation set of a taxonomy too, once); only the three pointers (``LATEST_SNAPSHOT``, ``CHAMPION``, ``LATEST_ENRICHMENT``)
are rewritten, and they only move forward.
"""

from __future__ import annotations

from catalog_search.naming import slug


class ObjectKeys:
    SNAPSHOTS = "catalog/snapshots/"
    MODELS = "models/"
    LATEST_SNAPSHOT = "catalog/latest.json"
    CHAMPION = "models/champion.json"
    LATEST_ENRICHMENT = "enrichment/latest.json"

    # catalog/snapshots/{snapshot_id}/
    @staticmethod
    def snapshot(snapshot_id: str) -> str:
        return f"{ObjectKeys.SNAPSHOTS}{snapshot_id}/"

    @staticmethod
    def snapshot_products(snapshot_id: str) -> str:
        return ObjectKeys.snapshot(snapshot_id) + "products.parquet"

    @staticmethod
    def snapshot_rejects(snapshot_id: str) -> str:
        return ObjectKeys.snapshot(snapshot_id) + "rejected.parquet"

    @staticmethod
    def snapshot_manifest(snapshot_id: str) -> str:
        return ObjectKeys.snapshot(snapshot_id) + "manifest.json"

    @staticmethod
    def snapshot_validated(snapshot_id: str) -> str:
        """Written only when the snapshot passed its suite: failed snapshots are never compared with."""
        return ObjectKeys.snapshot(snapshot_id) + "validated.json"

    @staticmethod
    def snapshot_checked(snapshot_id: str, run_key: str) -> str:
        """The check_snapshot job's output of a run (``snapshot_check``'s files), published from
        there by its task."""
        return ObjectKeys.snapshot(snapshot_id) + f"checked/{run_key}/"

    @staticmethod
    def snapshot_id_of(prefix: str) -> str:
        """The snapshot id of a ``catalog/snapshots/{id}/`` prefix."""
        return prefix[len(ObjectKeys.SNAPSHOTS):].rstrip("/")

    # training/{snapshot_id}/{run}/ (the channels are its sub-folders)
    @staticmethod
    def training(snapshot_id: str, run_key: str) -> str:
        return f"training/{snapshot_id}/{run_key}/"

    # code/{hash}/: a Processing job's code input (entry point and library), one per version
    @staticmethod
    def processing_code(code_hash: str) -> str:
        return f"code/{code_hash}/"

    # models/{model_version}/ (a training job writes {S3OutputPath}/{job}/output/model.tar.gz)
    @staticmethod
    def model(model_version: str) -> str:
        return f"{ObjectKeys.MODELS}{model_version}/"

    @staticmethod
    def model_artifact(model_version: str) -> str:
        return ObjectKeys.model(model_version) + "output/model.tar.gz"

    @staticmethod
    def model_metrics(model_version: str) -> str:
        return ObjectKeys.model(model_version) + "metrics.json"

    @staticmethod
    def model_lineage(model_version: str) -> str:
        return ObjectKeys.model(model_version) + "lineage.json"

    @staticmethod
    def model_champion_record(model_version: str) -> str:
        """The record the model was promoted with (``CHAMPION``'s content then): a rollback to one
        of its indices makes it the champion again from this."""
        return ObjectKeys.model(model_version) + "champion.json"

    @staticmethod
    def batch_embeddings(model_version: str, key: str) -> str:
        """A model's embeddings of fixed texts (the golden queries, the gate's product sample), by Batch Transform."""
        return ObjectKeys.model(model_version) + f"batch-embeddings/{key}/"

    # evaluation/{taxonomy}/: the frozen evaluation set every model of a taxonomy is scored on
    @staticmethod
    def evaluation_set(taxonomy: str) -> str:
        return f"evaluation/{taxonomy}/pairs.parquet"

    # enrichment/{snapshot_id}/{model_version}/
    ENRICHMENTS = "enrichment/"

    @staticmethod
    def enrichment(snapshot_id: str, model_version: str) -> str:
        return f"{ObjectKeys.ENRICHMENTS}{snapshot_id}/{model_version}/"

    @staticmethod
    def transform_input(snapshot_id: str, model_version: str) -> str:
        """The Batch Transform input prefix: its part files (``transform_input_file``), which
        SageMaker spreads over the job's instances."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + "input/"

    @staticmethod
    def transform_input_file(snapshot_id: str, model_version: str, part: int) -> str:
        return ObjectKeys.transform_input(snapshot_id, model_version) + f"products-{part:04d}.jsonl"

    @staticmethod
    def transform_output(snapshot_id: str, model_version: str) -> str:
        return ObjectKeys.enrichment(snapshot_id, model_version) + "output/"

    @staticmethod
    def transform_output_file(snapshot_id: str, model_version: str, part: int) -> str:
        """SageMaker names a batch output after its input, plus ``.out``."""
        return ObjectKeys.transform_output(snapshot_id, model_version) + f"products-{part:04d}.jsonl.out"

    @staticmethod
    def transform_order(snapshot_id: str, model_version: str) -> str:
        """Product ids in the order of the transform input's lines."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + "order/product_ids.parquet"

    @staticmethod
    def transform_summary(snapshot_id: str, model_version: str) -> str:
        """What the prepare_transform_input job found (``transform_input.SUMMARY_FILE``), beside the order."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + "order/summary.json"

    @staticmethod
    def projector(snapshot_id: str, model_version: str) -> str:
        """A sample of the enriched catalog as Embedding Projector files (``projector.py``)."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + "projector/"

    @staticmethod
    def projector_sample(snapshot_id: str, model_version: str) -> str:
        """The products ``export_projector`` writes, drawn when the enriched catalog is assembled
        (the export then reads a few thousand rows, not the whole catalog)."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + "projector_sample.parquet"

    @staticmethod
    def carried_over(snapshot_id: str, model_version: str) -> str:
        """Products whose embeddings are taken unchanged from an earlier enriched snapshot of the
        same model, and that snapshot (``from_snapshot``)."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + "carried/product_ids.parquet"

    @staticmethod
    def catalog_changes(snapshot_id: str, model_version: str, before_snapshot: str, compared: str) -> str:
        """The prefix of what changed since the enriched catalog of ``before_snapshot``
        (``changes.keep``); ``compared`` names the two catalog objects compared (a digest of
        their ETags)."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + f"changes/from-{before_snapshot}-{compared}/"

    @staticmethod
    def assembled(snapshot_id: str, model_version: str, run_key: str) -> str:
        """The assemble_enriched job's output of a run (``assembly``'s files), published from there
        by its task once checked."""
        return ObjectKeys.enrichment(snapshot_id, model_version) + f"assembled/{run_key}/"

    @staticmethod
    def enriched_products(snapshot_id: str, model_version: str) -> str:
        return ObjectKeys.enrichment(snapshot_id, model_version) + "enriched/products.parquet"

    # tables/{table}.json: the newest snapshot a DynamoDB table was made equal to
    @staticmethod
    def table_state(table_name: str) -> str:
        return f"tables/{table_name}.json"

    # vectors/: word vectors for the auxiliary channel
    @staticmethod
    def minilm_vectors(snapshot_id: str) -> str:
        """The prefix the ``build_word_vectors`` Processing job writes a snapshot's MiniLM vectors to."""
        return f"vectors/minilm/{snapshot_id}/"

    @staticmethod
    def uploaded_vectors(name: str, file_name: str) -> str:
        """A GloVe file of the deployment's (``PRETRAINED_EMBEDDINGS`` a local path), uploaded once."""
        return f"vectors/files/{name}/{file_name}"

    # reports/{dag_id}/{run}/
    @staticmethod
    def report(dag_id: str, run_key: str) -> str:
        return f"reports/{dag_id}/{slug(run_key, 80)}/"

    @staticmethod
    def suite_report(report_prefix: str, suite: str) -> str:
        return f"{report_prefix}{suite}.json"

    @staticmethod
    def data_docs(report_prefix: str, suite: str) -> str:
        return f"{report_prefix}data_docs/{suite}/"
