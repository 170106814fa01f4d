"""The whole chain through Airflow on the local stack, exactly as `make demo` runs it:
catalog_refresh → embedding_training → catalog_enrichment → search_index_publish, each as
`airflow dags test`, on the real fashion catalog; then assertions on what search returns.

Each test session writes to its own bucket, table, alias and work folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from catalog_search.search.query import SearchRequest, recommend, search
from catalog_search.search.terms import QueryVectors
from catalog_search.settings import Settings
from catalog_search.store.dynamo import unpack_embedding
from catalog_search.store.index import index_meta, live_index
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training.encoder import ModelEncoders


def _respond(clients, store, alias, text, mode, cache: Path, **filters) -> dict:
    vectors = QueryVectors(ModelEncoders(store, cache))
    return search(clients.opensearch, alias, vectors, SearchRequest(text, mode, size=5, filters=filters))


def _search(clients, store, alias, text, mode, cache: Path, **filters):
    return [h["_source"] for h in _respond(clients, store, alias, text, mode, cache, **filters)["hits"]["hits"]]


def test_snapshot_landed_validated_and_published(store):
    snapshot_id = store.get_json(ObjectKeys.LATEST_SNAPSHOT)["snapshot_id"]
    manifest = store.get_json(ObjectKeys.snapshot_manifest(snapshot_id))
    assert manifest["products"] == 44_439 and manifest["rejected"] == 7


def test_champion_passed_the_gate(store):
    champion = store.get_json(ObjectKeys.CHAMPION)
    assert champion["metrics"]["test:accuracy"] >= 0.75 and champion["purity@10"] >= 0.5
    assert store.exists(ObjectKeys.model_artifact(champion["model_version"]))
    assert store.get_json(ObjectKeys.model_lineage(champion["model_version"]))["snapshot_id"] == champion["snapshot_id"]


def test_items_were_upserted_to_dynamodb(chain, store, clients):
    champion = store.get_json(ObjectKeys.CHAMPION)
    item = clients.dynamodb.get_item(TableName=chain[0]["CATALOG_SEARCH_TABLE"], Key={"product_id": {"S": "15970"}})["Item"]
    assert item["title"]["S"] == "Turtle Check Men Navy Blue Shirt"
    assert item["model_version"]["S"] == champion["model_version"]
    assert unpack_embedding({"embedding": item["embedding"]["B"]}).shape == (Settings.embedding_dim,)


def test_alias_serves_the_newest_snapshot_with_its_model(store, alias, clients):
    client = clients.opensearch
    meta = index_meta(client, live_index(client, alias))
    assert meta["snapshot_id"] == store.get_json(ObjectKeys.LATEST_SNAPSHOT)["snapshot_id"]
    assert meta["model_version"] == store.get_json(ObjectKeys.CHAMPION)["model_version"]
    assert client.count(index=alias)["count"] == 44_439


def test_hybrid_search_finds_what_the_shopper_asked_for(clients, store, alias, encoder_cache):
    hits = _search(clients, store, alias, "men navy blue shirt", "hybrid", encoder_cache)
    assert len(hits) == 5
    assert all(h["category"].endswith("> Shirts") and h["attributes"]["gender"] == "Men" for h in hits)


def test_knn_alone_understands_the_product_type(clients, store, alias, encoder_cache):
    hits = _search(clients, store, alias, "women black handbag", "knn", encoder_cache)
    assert all(h["category"] == "Accessories > Bags > Handbags" for h in hits)


@pytest.mark.parametrize("word", ["trainers", "shades", "hoodie", "cardigan", "keychain", "denims", "tshrt"])
def test_no_query_lands_on_the_unknown_token_neighbours(clients, store, alias, encoder_cache, word):
    """Product 24078's title is all unknown words: it is where the unknown-token vector leads."""
    response = _respond(clients, store, alias, word, "knn", encoder_cache)
    assert "24078" not in [h["_id"] for h in response["hits"]["hits"]]
    assert response["query"]["knn"] == "used" or not response["hits"]["hits"]


def test_a_query_of_unknown_words_skips_knn_and_falls_back_to_keywords(clients, store, alias, encoder_cache):
    knn = _respond(clients, store, alias, "qxzvw", "knn", encoder_cache)
    assert knn["hits"]["hits"] == [] and knn["query"]["knn"].startswith("skipped")
    fused = _respond(clients, store, alias, "qxzvw shirt", "rrf", encoder_cache)
    assert fused["query"]["terms"]["unknown"] == ["qxzvw"] and fused["query"]["knn"] == "used"
    fallback = _respond(clients, store, alias, "qxzvw", "rrf", encoder_cache)
    assert fallback["query"]["fallback"] == "keyword"


def test_typos_are_read_as_the_nearest_vocabulary_word(clients, store, alias, encoder_cache):
    response = _respond(clients, store, alias, "sweter", "knn", encoder_cache)
    assert response["query"]["terms"]["corrected"] == {"sweter": "sweater"}
    assert any("Sweater" in h["_source"]["title"] for h in response["hits"]["hits"])


def test_fuzzy_keywords_survive_a_typo_and_filters_apply(clients, store, alias, encoder_cache):
    hits = _search(clients, store, alias, "handbgas", "keyword", encoder_cache)
    assert hits and all(h["category"].endswith("Handbags") for h in hits)
    filtered = _search(clients, store, alias, "watch", "hybrid", encoder_cache, gender="Women", category="Accessories > Watches")
    assert filtered and all(h["attributes"]["gender"] == "Women" and h["category"].startswith("Accessories > Watches") for h in filtered)


def test_recommendations_are_similar_products(alias, clients):
    hits = [h["_source"] for h in recommend(clients.opensearch, alias, "15970", size=10)["hits"]["hits"]]
    assert len(hits) == 10 and "15970" not in {h["product_id"] for h in hits}
    assert sum(h["category"] == "Apparel > Topwear > Shirts" for h in hits) >= 8


def test_a_backfilled_older_snapshot_does_not_move_latest(chain, store):
    _, run = chain
    latest = store.get_json(ObjectKeys.LATEST_SNAPSHOT)["snapshot_id"]
    run("catalog_refresh", {"snapshot_id": "20200101T000000Z-fashion"})
    assert store.exists(ObjectKeys.snapshot_manifest("20200101T000000Z-fashion"))
    assert store.get_json(ObjectKeys.LATEST_SNAPSHOT)["snapshot_id"] == latest


def test_every_hand_off_wrote_its_report_and_data_docs(store):
    for dag_id, suite in (("catalog_refresh", "catalog_snapshot"), ("embedding_training", "pairs"), ("catalog_enrichment", "embeddings")):
        keys = store.list_keys(f"reports/{dag_id}/")
        reports = [k for k in keys if k.endswith(f"/{suite}.json")]
        assert reports, f"no {suite} report under reports/{dag_id}/"
        report = store.get_json(reports[0])
        assert report["success"] and report["data_docs_uri"].endswith(f"data_docs/{suite}/index.html")
        assert any(k.endswith(f"data_docs/{suite}/index.html") for k in keys)


def test_every_run_wrote_its_report_page(store):
    for dag_id in ("catalog_refresh", "embedding_training", "catalog_enrichment", "search_index_publish"):
        pages = [k for k in store.list_keys(f"reports/{dag_id}/") if k.endswith("/index.html") and "/data_docs/" not in k]
        assert pages, f"no report page under reports/{dag_id}/"
        page = store.get_bytes(pages[0]).decode()
        assert dag_id in page and "no task failed" in page


def test_training_inputs_come_with_the_sampling_report(store):
    lineage = store.get_json(ObjectKeys.model_lineage(store.get_json(ObjectKeys.CHAMPION)["model_version"]))
    prefix = lineage["training_uri"].split(f"s3://{store.bucket}/", 1)[1]
    report = store.get_json(prefix + "report.json")
    assert report["pairs"] == report["target_pairs"] == 60_000
    assert abs(report["positive_share"] - 0.5) < 0.01 and report["hard_negative_share"] > 0.15
    assert len(report["single_product_categories"]) == 18
    assert all(store.exists(prefix + f"{split}/pairs.jsonl") for split in ("train", "validation", "test"))
    assert store.exists(prefix + "auxiliary/vocab.json")


def test_evaluate_scores_both_dev_sets_each_and_together(chain, tmp_path):
    """`catalog-search evaluate` as a person runs it on the chain's index: the dev and dev2 sets,
    judged by rule on the catalog the index serves, each and the 155 queries together, with the spread."""
    import json
    import os
    import subprocess
    import sys

    report = tmp_path / "evaluate.json"
    proc = subprocess.run([sys.executable, "-m", "catalog_search", "evaluate", "--modes", "keyword", "normalized",
                           "--purity-sample", "0", "--json", str(report)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **chain[0]})
    assert proc.returncode == 0, proc.stderr
    sets = json.loads(report.read_text())["query_sets"]
    assert {name: s["queries"] for name, s in sets.items()} == {"dev": 40, "dev2": 115, "all": 155}
    assert "the 2 sets together" in proc.stdout and "judged by rule" in proc.stdout
    together = sets["all"]["modes"]["normalized"]
    assert 0.5 < together["ndcg@10"] < 1 and 0 < together["ndcg@10 ±"] < 0.1
    per_query = {**sets["dev"]["modes"]["normalized"]["per_query"], **sets["dev2"]["modes"]["normalized"]["per_query"]}
    assert together["per_query"] == per_query


@pytest.mark.parametrize("mode", ["normalized", "rrf"])
def test_the_fused_modes_answer_from_doc_values_as_from_whole_documents(clients, store, alias, encoder_cache, mode):
    """The candidate lists carry scores and doc values only (the result cards' fields, the facets'
    and the named attributes), and the page is cut from them without another request. Same hits,
    scores, result cards, totals and facets as fusing whole documents, with the default attribute
    bonus and without it."""
    from catalog_search.search import facets
    from catalog_search.search.query import CARD_FIELDS, _body, _keyword_clause, _knn_clause, attribute_words, fuse, top_fused_score, with_attribute_bonus

    def whole_body(should: list[dict]) -> dict:  # every field but the vector
        return {**_body(request, should, 0, request.knn_k), "_source": {"excludes": ["embedding"]}}

    def with_fields(hit: dict) -> dict:  # a whole document's attributes, as the bonus reads them from doc values
        return {**hit, "fields": {f"attributes.{k}": [v] for k, v in hit["_source"].get("attributes", {}).items()}}

    vectors = QueryVectors(ModelEncoders(store, encoder_cache))
    index = live_index(clients.opensearch, alias)
    cases = (("men navy blue shirt", {}, 1, None), ("black watch", {"gender": ["Women"]}, 2, None), ("kurta", {}, 3, None),
             ("men navy blue shirt", {}, 2, 0.0))
    for text, filters, page, bonus in cases:
        request = SearchRequest(text, mode, size=10, page=page, filters=filters, with_facets=True)
        request = request if bonus is None else replace(request, attribute_boost=bonus)
        answer = search(clients.opensearch, alias, vectors, request)
        vector, _ = vectors(index_meta(clients.opensearch, index)["model_version"], text)
        whole = clients.opensearch.msearch(body=[  # the fusion of whole documents it replaced
            {"index": index}, whole_body([_keyword_clause(request)]),
            {"index": index}, whole_body([_knn_clause(request, vector, request.knn_k)])])["responses"]
        fused = fuse(whole[0]["hits"]["hits"], whole[1]["hits"]["hits"], mode, request.keyword_boost, request.knn_boost, request.rrf_k)
        named = attribute_words(clients.opensearch, index, request.attributes, request.attributes_also).named(text) \
            if request.attribute_boost else {}
        if request.attribute_boost and text == "men navy blue shirt":
            assert named == {"gender": ["Men", "Unisex"], "colour": ["Navy Blue"]}, named  # the bonus took part
        fused = with_attribute_bonus([with_fields(h) for h in fused], named, request.attribute_boost * top_fused_score(request))
        expected = fused[(page - 1) * 10: page * 10]
        cards = [{k: h["_source"][k] for k in CARD_FIELDS if k in h["_source"]} for h in expected]
        assert [(h["_id"], h["_score"], h["_source"]) for h in answer["hits"]["hits"]] == \
            [(h["_id"], h["_score"], card) for h, card in zip(expected, cards)] and len(expected) == 10
        assert answer["hits"]["total"]["value"] == len(fused)
        assert answer["facets"] == facets.tally([h["_source"] for h in fused])
