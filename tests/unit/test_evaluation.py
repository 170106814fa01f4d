"""Judged queries and their metrics: by rule on the catalog being scored, by qrels with condensed
rankings, and the paired comparison the publish gate decides on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog_search.errors import BadInput
from catalog_search.search import evaluation
from catalog_search.settings import Settings
from catalog_search.training.catalog import fashion_catalog, split_rejects

DATA = Path(__file__).resolve().parents[2] / "data" / "fashion"
RULE = evaluation.JudgingRule.from_settings(Settings())


def _product(pid: str, category: str, **attributes) -> dict:
    return {"product_id": pid, "title": pid, "category": category, "attributes": json.dumps(attributes)}


CATALOG = pd.DataFrame([
    _product("s1", "Apparel > Topwear > Shirts", gender="Men", colour="Navy Blue", usage="Formal"),
    _product("s2", "Apparel > Topwear > Shirts", gender="Unisex", colour="Navy Blue", usage="Casual"),
    _product("s3", "Apparel > Topwear > Shirts", gender="Women", colour="Navy Blue"),
    _product("s4", "Apparel > Topwear > Shirts", gender="Men", colour="White"),
    _product("t1", "Apparel > Topwear > Tshirts", gender="Men", colour="Navy Blue"),
    _product("w1", "Accessories > Watches > Watches", gender="Women", colour="Silver"),
])


def _queries(tmp_path: Path, rows: list[str], header: str = "qid\tquery\tarticle_types\tgender\tcolours\tusage") -> Path:
    path = tmp_path / "queries.tsv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_metrics_on_a_known_ranking():
    grades = {"a": 2, "b": 1, "c": 0, "d": 2}
    ranked = ["c", "a", "x", "b"]
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    ideal = 3 + 3 / math.log2(3) + 1 / math.log2(4)
    assert evaluation.ndcg(ranked, grades) == pytest.approx(dcg / ideal)
    assert evaluation.recall(ranked, grades) == pytest.approx(2 / 3)
    assert evaluation.reciprocal_rank(ranked, grades) == pytest.approx(1 / 2)
    assert evaluation.ndcg(["a", "d", "b"], grades) == pytest.approx(1.0)


def test_the_rule_grades_type_and_every_stated_constraint_unisex_meeting_men_and_women(tmp_path):
    query_set = evaluation.read_query_set(_queries(tmp_path, ["q1\tmen navy shirt\tShirts\tMen\tNavy Blue\t",
                                                              "q2\tshirt or tee\tShirts|Tshirts\t\t\t",
                                                              "q3\tformal shirt\tShirts\t\t\tFormal"]), None, RULE)
    judgments = query_set.judge(CATALOG)
    assert judgments.method == "rule"
    assert judgments.grades["q1"] == {"s1": 2, "s2": 2, "s3": 1, "s4": 1}  # Unisex meets Men; Women and White do not
    assert judgments.grades["q2"] == {"s1": 2, "s2": 2, "s3": 2, "s4": 2, "t1": 2}  # nothing else stated: all grade 2
    assert judgments.grades["q3"] == {"s1": 2, "s2": 1, "s3": 1, "s4": 1}


def test_the_rule_judges_products_added_or_recategorised_since_the_set_was_written(tmp_path):
    query_set = evaluation.read_query_set(_queries(tmp_path, ["q1\twatch\tWatches\tWomen\t\t"]), None, RULE)
    later = pd.concat([CATALOG, pd.DataFrame([_product("new-1", "Accessories > Watches > Watches", gender="Women")])])
    later.loc[later["product_id"] == "s3", "category"] = "Accessories > Watches > Watches"
    assert query_set.judge(later).grades["q1"] == {"w1": 2, "new-1": 2, "s3": 2}


def test_a_query_without_a_relevant_product_is_not_scored(tmp_path):
    query_set = evaluation.read_query_set(_queries(tmp_path, ["q1\tshirt\tShirts\t\t\t", "q2\tcamera\tCameras\t\t\t"]), None, RULE)
    judgments = query_set.judge(CATALOG)
    report = evaluation.evaluate(judgments, ["keyword"], lambda text, mode: ["s1"])
    assert judgments.unjudgeable == ("q2",) and report["unjudgeable"] == ["q2"]
    assert list(report["modes"]["keyword"]["per_query"]) == ["q1"] and report["queries"] == 1


@pytest.mark.parametrize("name", ["dev", "dev2"])
def test_the_rule_reproduces_the_shipped_qrels_on_the_served_catalog(name):
    """Both dev sets' qrels were written by the same rule; on the products a snapshot serves (the
    7 untitled ones are rejects) judging by rule gives exactly them."""
    catalog, rejects = split_rejects(fashion_catalog(DATA))
    judgments = evaluation.read_query_set(DATA / f"queries_{name}.tsv", None, RULE).judge(catalog)
    qrels = pd.read_csv(DATA / f"qrels_{name}.tsv", sep="\t", dtype=str)
    qrels = qrels[~qrels["product_id"].isin(rejects["product_id"])]
    expected = {qid: dict(zip(group["product_id"], group["grade"].astype(int))) for qid, group in qrels.groupby("qid")}
    assert judgments.grades == expected and not judgments.unjudgeable


def test_qrels_judge_a_set_without_rule_columns_and_rankings_are_condensed(tmp_path):
    queries = _queries(tmp_path, ["q1\tshirt", "q2\twatch"], header="qid\tquery")
    (tmp_path / "qrels.tsv").write_text("qid\tproduct_id\tgrade\nq1\ts1\t2\nq1\ts4\t0\nq2\tw1\t1\n")
    judgments = evaluation.read_query_set(queries, tmp_path / "qrels.tsv", RULE).judge()
    assert judgments.method == "qrels (condensed)"
    # q1: "new" was never judged: removed before scoring, so s1 counts as the first result.
    report = evaluation.evaluate(judgments, ["keyword"], lambda text, mode: ["new", "s1", "s4"] if text == "shirt" else ["x", "w1"])
    per_query = report["modes"]["keyword"]["per_query"]
    assert per_query["q1"]["ndcg@10"] == 1.0 and per_query["q1"]["mrr"] == 1.0
    assert per_query["q1"]["judged@10"] == pytest.approx(2 / 3) and per_query["q2"]["judged@10"] == 0.5
    assert report["modes"]["keyword"]["mrr"] == 1.0
    assert "judged@10" in evaluation.table(report)


def test_a_set_without_rule_columns_needs_qrels(tmp_path):
    with pytest.raises(BadInput, match="no rule columns"):
        evaluation.read_query_set(_queries(tmp_path, ["q1\tshirt"], header="qid\tquery"), None, RULE)


@pytest.mark.parametrize("fields, also, message", [
    (["article_types"], [], "query_column=catalog_field"),
    ([], [], "no judging fields"),
    (["a=category.leaf"], ["gender:Unisex"], "column:value=wanted"),
    (["a=category.leaf"], ["gender:Unisex=Men"], "not one of the judging fields"),
])
def test_a_bad_rule_is_one_clear_line(fields, also, message):
    with pytest.raises(BadInput, match=message):
        evaluation.JudgingRule.parse(fields, also)


def test_catalog_fields_by_level_column_and_attribute():
    values = evaluation.field_values(CATALOG, ["category.1", "category.leaf", "title", "gender"])
    assert values["category.1"].tolist()[-1] == "accessories" and values["category.leaf"].tolist()[0] == "shirts"
    assert values["title"].tolist()[0] == "s1" and values["gender"].tolist()[1] == "unisex"
    with pytest.raises(BadInput, match=r"category\.N"):
        evaluation.field_values(CATALOG, ["category.x"])


def test_paired_comparison_refuses_a_drop_beyond_the_queries_spread():
    live = {f"q{i}": 0.9 for i in range(40)}
    assert not evaluation.paired_comparison(dict(live), live).drop_is_real(0.02)
    broken = evaluation.paired_comparison(dict.fromkeys(live, 0.5), live)
    assert broken.drop_is_real(0.02) and broken.difference == pytest.approx(-0.4) and broken.upper_bound < 0
    assert broken.worst[0] == ("q0", 0.5, 0.9) and len(broken.worst) == 5


def test_one_query_that_collapses_is_within_the_spread_of_forty():
    live = {f"q{i}": 0.9 for i in range(40)}
    one = evaluation.paired_comparison({**live, "q7": 0.0}, live)
    assert one.difference == pytest.approx(-0.9 / 40) and one.difference < -0.02
    assert not one.drop_is_real(0.02)  # a single query is not a trend: the bootstrap bound stays at 0
    assert one.worst == (("q7", 0.0, 0.9),)


def test_a_small_drop_on_every_query_is_within_the_tolerance():
    live = {f"q{i}": 0.9 for i in range(40)}
    assert not evaluation.paired_comparison(dict.fromkeys(live, 0.89), live).drop_is_real(0.02)


def test_leaf_purity():
    categories = {"p": "A > B", "n1": "A > B", "n2": "A > C", "q": "A > C", "n3": "A > C"}
    assert evaluation.leaf_purity({"p": ["n1", "n2"], "q": ["n3"]}, categories) == pytest.approx(0.75)


def test_query_sets_are_scored_together_and_with_their_spread(tmp_path):
    """Two sets' queries as one (each query once); the spread is 1.96 standard errors of nDCG@10."""
    first = evaluation.read_query_set(_queries(tmp_path, ["q1\tshirt\tShirts\t\t\t"]), None, RULE).judge(CATALOG)
    second = evaluation.read_query_set(_queries(tmp_path, ["r1\tshirt\tShirts\t\t\t", "r2\tbag\tShirts\t\t\t"]), None, RULE).judge(CATALOG)
    ranked = {"shirt": ["s1"], "bag": ["x"]}
    reports = {name: evaluation.evaluate(j, ["keyword"], lambda text, mode: ranked[text]) for name, j in (("a", first), ("b", second))}
    together = evaluation.combined(reports)
    scores = [s["ndcg@10"] for r in reports.values() for s in r["modes"]["keyword"]["per_query"].values()]
    assert together["queries"] == 3 and list(together["modes"]["keyword"]["per_query"]) == ["q1", "r1", "r2"]
    assert together["modes"]["keyword"]["ndcg@10"] == pytest.approx(sum(scores) / 3)
    assert together["modes"]["keyword"]["ndcg@10 ±"] == pytest.approx(1.96 * np.std(scores, ddof=1) / np.sqrt(3))
    with pytest.raises(BadInput, match="share query ids"):
        evaluation.combined({"a": reports["a"], "a again": reports["a"]})
