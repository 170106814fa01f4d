"""index.validate against a stand-in for the node: what it asks and what it counts."""

import numpy as np
import pandas as pd
import pytest

from catalog_search import index


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
