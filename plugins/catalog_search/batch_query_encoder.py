"""The golden queries embedded by a Batch Transform job of a model: how the pre-swap gate
encodes queries for a model the query endpoint does not serve yet.

With the endpoint query encoder (``query_endpoint``), a new model reaches the endpoint only in
the step that swaps the alias, after the gate; and a model trained by SageMaker has no weights
this process could run. So the gate embeds its known, fixed queries the way the catalog was
embedded: one transform job of the model over their token ids (run by the configured runner,
named after the model and the ids, skipped when its output exists). The resulting encoder has
the ``vocab``/``max_seq_len``/``embed_ids`` interface of ``query_terms.QueryVectors``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from catalog_search import sagemaker_jobs, tokenizer
from catalog_search.encoder import model_vocabulary
from catalog_search.layout import Layout
from catalog_search.query_terms import Speller, analyze
from catalog_search.runners import runner_for
from catalog_search.settings import job_name, short_hash

QUERIES_FILE = "queries.jsonl"


@dataclass
class PrecomputedEncoder:
    vocab: dict[str, int] = field(repr=False)
    max_seq_len: int
    vectors: dict[tuple[int, ...], list[float]] = field(repr=False)  # token ids -> embedding

    def embed_ids(self, sequences: list[list[int]]) -> np.ndarray:
        missing = [ids for ids in sequences if tuple(ids[: self.max_seq_len]) not in self.vectors]
        if missing:
            raise KeyError(f"no precomputed embedding for token ids {missing[0]}: only the golden queries were embedded")
        return np.array([self.vectors[tuple(ids[: self.max_seq_len])] for ids in sequences], dtype=np.float32)


class BatchQueryEncoders:
    """``model_version -> PrecomputedEncoder`` of ``texts``, each model's transform run once."""

    def __init__(self, clients, texts: list[str]):
        self.clients, self.texts = clients, list(texts)
        self._encoders: dict[str, PrecomputedEncoder] = {}

    def __call__(self, model_version: str) -> PrecomputedEncoder:
        if model_version not in self._encoders:
            self._encoders[model_version] = self._embed(model_version)
        return self._encoders[model_version]

    def _embed(self, model_version: str) -> PrecomputedEncoder:
        store = self.clients.store
        vocab, max_seq_len = model_vocabulary(store, model_version)
        speller = Speller(vocab)
        sequences = sorted({tuple(analyze(t, vocab, speller, max_seq_len).ids) for t in self.texts} - {()})
        key = short_hash(model_version, *sequences)
        prefix = Layout.query_vectors(model_version, key)
        output = f"{prefix}output/{QUERIES_FILE}.out"  # SageMaker names a batch output after its input
        if not store.exists(output):
            path = self.clients.settings.work_dir / "query-vectors" / model_version / key / QUERIES_FILE
            tokenizer.write_inference_jsonl(map(list, sequences), path)
            store.upload_file(path, f"{prefix}input/{QUERIES_FILE}")
            runner_for(self.clients).transform(sagemaker_jobs.transform_job_config(
                job_name("qvec", model_version, key), model_version, store.uri(f"{prefix}input/"), store.uri(f"{prefix}output/")))
        lines = store.get_bytes(output).decode().splitlines()
        if len(lines) != len(sequences):
            raise ValueError(f"{store.uri(output)}: {len(lines)} embeddings for {len(sequences)} queries; delete the "
                             f"prefix {store.uri(prefix)} so that the next try embeds them again")
        vectors = {ids: json.loads(line)["embeddings"] for ids, line in zip(sequences, lines)}
        return PrecomputedEncoder(vocab, max_seq_len, vectors)
