"""index.validate against a stand-in for the node: what it asks and what it counts."""

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from catalog_search.store import index


class ExactNode:
    """Answers a k-NN query with the exact nearest products, recording the k it was asked for."""

    def __init__(self, frame: pd.DataFrame, documents: int | None = None):
        self.frame, self.documents, self.asked_k = frame, documents, []
        matrix = np.stack(frame["embedding"].to_numpy())
        self.unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def count(self, index: str) -> dict:
        return {"count": len(self.frame) if self.documents is None else self.documents}

    def search(self, index: str, body: dict) -> dict:
        knn = body["query"]["knn"]["embedding"]
        self.asked_k.append(knn["k"])
        query = np.asarray(knn["vector"]) / np.linalg.norm(knn["vector"])
        best = np.argsort(-(self.unit @ query))[: body["size"]]
        return {"hits": {"hits": [{"_id": self.frame["product_id"].iloc[i]} for i in best]}}


def _frame(n: int = 40) -> pd.DataFrame:
    vectors = np.random.default_rng(1).normal(size=(n, 8)).astype(np.float32)
    return pd.DataFrame({"product_id": [f"p{i}" for i in range(n)], "embedding": list(vectors)})


def test_the_knn_check_asks_the_index_for_as_many_candidates_as_the_search_does():
    node = ExactNode(_frame())
    check = index.validate(node, "idx", node.frame, sample=5, candidates=100)
    assert node.asked_k == [100] * 5 and check.knn_recall == 1.0 and check.documents == 40


def test_a_missing_document_fails_the_check_with_both_counts():
    node = ExactNode(_frame(), documents=39)
    with pytest.raises(index.IndexValidationFailed, match="39 documents, expected 40"):
        index.validate(node, "idx", node.frame, sample=5)


def _catalog(n: int = 30) -> pd.DataFrame:
    frame = _frame(n)
    return frame.assign(title=[f"Men navy shirt {i}" for i in range(n)], category="Apparel > Topwear > Shirts",
                        attributes='{"gender": "Men"}', price=[float(i) if i % 3 else np.nan for i in range(n)])


def test_a_document_s_checksum_follows_its_content_alone():
    frame = _catalog()
    sums = index.checksums(frame)
    assert sums.dtype == np.int64 and (sums >= 0).all() and (sums < 2 ** index.CHECKSUM_BITS).all()
    assert (index.checksums(frame.iloc[10:20]) == sums[10:20]).all()  # the same row, whatever the rows beside it
    retitled = frame.copy()
    retitled.loc[3, "title"] = "Men navy shirt 3 slim fit"
    nudged = frame.copy()
    nudged.at[4, "embedding"] = np.nextafter(frame.at[4, "embedding"], np.float32(10))  # one ulp on every component
    for changed, row in ((retitled, 3), (nudged, 4)):
        assert (index.checksums(changed) != sums).tolist() == [i == row for i in range(len(frame))]


def test_the_fingerprint_is_the_count_and_sum_of_the_checksums_chunk_by_chunk(monkeypatch):
    frame = _catalog(25)
    monkeypatch.setattr(index, "DOCUMENT_CHUNK", 7)
    assert index.fingerprint(frame) == {"documents": 25, "checksum": int(index.checksums(frame).sum())}
    docs = list(index.documents(frame, chunk=7))
    assert [d["checksum"] for d in docs] == index.checksums(frame).tolist()


class FingerprintNode:
    """Answers the fingerprint aggregation over the documents it holds."""

    def __init__(self, docs: list[dict], meta: dict):
        self.docs, self.meta = docs, meta

    def search(self, index: str, body: dict) -> dict:
        return {"hits": {"total": {"value": len(self.docs)}},
                "aggregations": {"checksum": {"value": float(sum(d["checksum"] for d in self.docs))}}}


def test_verify_finds_a_lost_a_stale_and_an_unproven_index(monkeypatch):
    frame = _catalog()
    meta = {"snapshot_id": "s2", "fingerprint": index.fingerprint(frame)}
    monkeypatch.setattr(index, "index_meta", lambda client, name: client.meta)
    whole = list(index.documents(frame))
    assert index.verify(FingerprintNode(whole, meta), "idx") == []
    assert "holds 29 documents" in index.verify(FingerprintNode(whole[:-1], meta), "idx")[0]
    stale = [dict(d, checksum=(d["checksum"] + 1) % 2 ** 16) if i == 5 else d for i, d in enumerate(whole)]
    assert "snapshot s2 has 30 with checksum" in index.verify(FingerprintNode(stale, meta), "idx")[0]
    assert "no fingerprint" in index.verify(FingerprintNode(whole, {"snapshot_id": "s1"}), "idx")[0]


GIB = 2**30


def test_a_new_index_gets_one_shard_per_20_gib_of_its_estimated_size():
    per_product = index.INDEX_BYTES_PER_PRODUCT + 384 * index.INDEX_BYTES_PER_DIMENSION
    assert index.shard_count(44_000, 384) == 1
    assert index.shard_count(1_000_000, 384) == 1
    assert index.shard_count(int(20 * GIB / per_product) + 1, 384) == 2
    assert index.shard_count(50_000_000, 384) == -(-50_000_000 * per_product // (20 * GIB))  # 22
    assert index.shard_count(10_000_000, 768) > index.shard_count(10_000_000, 384)


def test_the_live_index_s_count_is_kept_while_its_shards_stay_within_10_to_30_gib():
    def products(gib: float) -> int:
        return int(gib * GIB / (index.INDEX_BYTES_PER_PRODUCT + 384 * index.INDEX_BYTES_PER_DIMENSION))

    assert index.shard_count(products(29), 384, live_shards=1) == 1  # one shard up to 30 GiB
    assert index.shard_count(products(31), 384, live_shards=1) == 2
    assert index.shard_count(products(45), 384, live_shards=2) == 2  # 22.5 GiB a shard: kept, not 3
    assert index.shard_count(products(59), 384, live_shards=2) == 2
    assert index.shard_count(products(61), 384, live_shards=2) == 4  # past 30 GiB a shard: one per 20 again
    assert index.shard_count(products(19), 384, live_shards=2) == 1  # below 10 GiB a shard


def test_vectors_are_stored_in_at_most_9_digits_and_read_back_as_the_same_float32():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[0, :4] = [0.0, -0.0, 3.4e38, 1.2e-38]
    vectors[1] *= np.float32(1e-20)
    decimals = index.shortest_decimals(vectors)
    assert np.array_equal(decimals.astype(np.float32), vectors)
    texts = [json.dumps(x) for x in decimals.ravel().tolist()]
    assert max(len(Decimal(t).normalize().as_tuple().digits) for t in texts) <= index.FLOAT32_DIGITS
    widened = [json.dumps(x) for x in vectors.astype(np.float64).ravel().tolist()]
    assert sum(map(len, texts)) < 0.7 * sum(map(len, widened))


def test_an_index_document_holds_its_vector_in_short_decimals():
    enriched = pd.DataFrame({"product_id": ["1"], "title": ["Men navy shirt"], "category": ["Apparel > Topwear"],
                             "attributes": ['{"gender": "Men"}'],
                             "embedding": [np.array([0.1, -0.2345678912, 1 / 3], dtype=np.float32)]})
    doc = next(iter(index.documents(enriched)))
    assert json.dumps(doc["embedding"]) == "[0.100000001, -0.234567896, 0.333333343]"
    assert np.array_equal(np.array(doc["embedding"], dtype=np.float32), enriched["embedding"][0])


class WrongNode(ExactNode):
    """Answers with the products furthest from the query: a graph (or vectors) gone wrong."""

    def search(self, index: str, body: dict) -> dict:
        knn = body["query"]["knn"]["embedding"]
        query = np.asarray(knn["vector"]) / np.linalg.norm(knn["vector"])
        worst = np.argsort(self.unit @ query)[: body["size"]]
        return {"hits": {"hits": [{"_id": self.frame["product_id"].iloc[i]} for i in worst]}}


@pytest.fixture
def parquet_catalog(tmp_path, monkeypatch):
    """A catalog of 40 products as the store writes it, on disk, read in batches of 7."""
    from catalog_search.store import batches, object_store

    monkeypatch.setattr(batches, "BATCH_ROWS", 7)
    frame = _frame().assign(title="Navy shirt", category="Apparel > Topwear", attributes='{"gender": "Men"}')
    path = tmp_path / "enriched.parquet"
    pq.write_table(object_store.arrow_table(frame.drop(columns="embedding"), {"embedding": np.stack(frame["embedding"])}), path)
    return frame, batches.CatalogBatches(len(frame), path=path)


def test_a_catalog_read_in_batches_is_the_catalog_in_order(parquet_catalog):
    frame, catalog = parquet_catalog
    read = list(catalog)
    assert [len(b) for b, _ in read] == [7] * 5 + [5] and catalog.dim == 8
    assert pd.concat([b["product_id"] for b, _ in read], ignore_index=True).equals(frame["product_id"])
    assert np.array_equal(np.concatenate([v for _, v in read]), np.stack(frame["embedding"]))
    assert index.fingerprint(catalog) == index.fingerprint(frame)
    assert [d["product_id"] for b, _ in read for d in index.documents(b)] == frame["product_id"].tolist()


def test_the_knn_check_over_batches_passes_a_good_index_and_fails_a_wrong_one(parquet_catalog):
    frame, catalog = parquet_catalog
    assert index.validate(ExactNode(frame), "idx", catalog, sample=10).knn_recall == 1.0
    with pytest.raises(index.IndexValidationFailed, match="k-NN recall@10"):
        index.validate(WrongNode(frame), "idx", catalog, sample=10)
