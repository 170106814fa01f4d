"""Texts embedded by a Batch Transform job of a model: how the pre-swap gate encodes its queries
for a model the query endpoint does not serve yet, and how the training gate embeds a product
sample for its embedding-space check, whichever runner trained the model.

With the endpoint query encoder (``query_endpoint``), a new model reaches the endpoint only in
the step that swaps the alias, after the gate; and a model trained by SageMaker has no weights
this process could run. So the gate embeds its known, fixed queries the way the catalog was
embedded: one transform job of the model over their token ids (run by the configured runner,
named after the model and the ids, skipped when its output exists). The resulting encoder has
the ``vocab``/``max_seq_len``/``embed_ids`` interface of ``search.terms.QueryVectors``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from catalog_search.naming import job_name, short_hash
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.local_runner import runner_for
from catalog_search.search.terms import Speller, analyze
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import tokenizer
from catalog_search.training.encoder import model_vocabulary

SEQUENCES_FILE = "sequences.jsonl"


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
        vocab, max_seq_len = model_vocabulary(self.clients.store, model_version)
        speller = Speller(vocab)
        sequences = sorted({tuple(analyze(t, vocab, speller, max_seq_len).ids) for t in self.texts} - {()})
        vectors = embed_sequences(self.clients, model_version, [list(ids) for ids in sequences], "qvec")
        return PrecomputedEncoder(vocab, max_seq_len, {ids: v.tolist() for ids, v in zip(sequences, vectors)})


def embed_sequences(clients, model_version: str, sequences: list[list[int]], purpose: str) -> np.ndarray:
    """Token id sequences embedded by one Batch Transform job of the model, named after the model
    and the sequences: the output of a job run before (e.g. by a DAG task, ``transform_request``)
    is read, otherwise the configured runner runs the job here."""
    if not sequences:
        return np.empty((0, 0), dtype=np.float32)
    store = clients.store
    prefix = ObjectKeys.batch_embeddings(model_version, _key(model_version, sequences, purpose))
    output = f"{prefix}output/{SEQUENCES_FILE}.out"  # SageMaker names a batch output after its input
    if not store.exists(output):
        runner_for(clients).transform(transform_request(clients, model_version, sequences, purpose))
    lines = store.get_bytes(output).decode().splitlines()
    if len(lines) != len(sequences):
        raise ValueError(f"{store.uri(output)}: {len(lines)} embeddings for {len(sequences)} sequences; delete the "
                         f"prefix {store.uri(prefix)} so that the next try embeds them again")
    return np.array([json.loads(line)["embeddings"] for line in lines], dtype=np.float32).reshape(len(sequences), -1)


def transform_request(clients, model_version: str, sequences: list[list[int]], purpose: str) -> dict:
    """The sequences uploaded as a transform input, and the CreateTransformJob request that
    embeds them where ``embed_sequences`` reads them."""
    store = clients.store
    key = _key(model_version, sequences, purpose)
    path = clients.settings.work_dir / "batch-embeddings" / model_version / key / SEQUENCES_FILE
    tokenizer.write_inference_jsonl(sequences, path)
    store.upload_file(path, f"{ObjectKeys.batch_embeddings(model_version, key)}input/{SEQUENCES_FILE}")
    return sequences_transform_request(clients.settings, store, model_version, key, purpose)


def sequences_transform_request(settings, store, model_version: str, key: str, purpose: str) -> dict:
    """The CreateTransformJob request of the sequences uploaded under ``ObjectKeys.batch_embeddings``."""
    prefix = ObjectKeys.batch_embeddings(model_version, key)
    return job_requests.transform_job_config(job_name(purpose, model_version, key), model_version,
                                               store.uri(f"{prefix}input/"), store.uri(f"{prefix}output/"),
                                               settings.transform_instance_type)


def _key(model_version: str, sequences: list[list[int]], purpose: str) -> str:
    return short_hash(purpose, model_version, *map(tuple, sequences))
