"""index.validate against a stand-in for the node: what it asks and what it counts."""

import numpy as np
import pandas as pd
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
