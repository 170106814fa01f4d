"""Fusion arithmetic and pagination, unknown words and typos."""

from __future__ import annotations

import math

import pytest

from catalog_search.search.query import SearchRequest, card_of, fuse, top_fused_score, with_attribute_bonus
from catalog_search.search.terms import AttributeWords, Speller, analyze
from catalog_search.training.tokenizer import build_vocab


def hits(*pairs):
    return [{"_id": pid, "_score": score, "_source": {"product_id": pid}} for pid, score in pairs]


def test_rrf_adds_weighted_reciprocal_ranks():
    fused = fuse(hits(("a", 9), ("b", 5)), hits(("b", 0.9), ("c", 0.8)), "rrf", keyword_weight=1, knn_weight=2, rrf_k=60)
    scores = {h["_id"]: h["_score"] for h in fused}
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["b"] == pytest.approx(1 / 62 + 2 / 61)
    assert scores["c"] == pytest.approx(2 / 62)
    assert [h["_id"] for h in fused] == ["b", "c", "a"]


def test_normalized_fusion_min_max_scales_each_list_then_weights():
    fused = fuse(hits(("a", 30), ("b", 20), ("c", 10)), hits(("c", 0.9), ("a", 0.5)), "normalized", 1.0, 3.0)
    scores = {h["_id"]: h["_score"] for h in fused}
    assert scores == pytest.approx({"a": 1.0 + 0.0, "b": 0.5, "c": 0.0 + 3.0})
    assert [h["_id"] for h in fused] == ["c", "a", "b"]


def test_a_list_of_equal_scores_normalizes_to_one_and_ties_break_by_id():
    fused = fuse(hits(("z", 2), ("y", 2)), [], "normalized", 1.0, 1.0)
    assert [(h["_id"], h["_score"]) for h in fused] == [("y", 1.0), ("z", 1.0)]


def test_pages_cut_from_the_fused_list_never_overlap_or_skip():
    keyword = hits(*[(f"k{i}", 100 - i) for i in range(60)], *[(f"s{i}", 40 - i) for i in range(30)])
    knn = hits(*[(f"s{i}", 1 - i / 100) for i in range(30)], *[(f"v{i}", 0.6 - i / 200) for i in range(60)])
    fused = fuse(keyword, knn, "rrf", 1.0, 1.0)
    pages = [fused[(p - 1) * 7 : p * 7] for p in range(1, 1 + math.ceil(len(fused) / 7))]
    ids = [h["_id"] for page in pages for h in page]
    assert len(ids) == len(set(ids)) == 150
    assert SearchRequest("shirt", "rrf", size=7, page=20).knn_k >= 140  # the window covers the page


def test_known_words_typos_and_unknown_words():
    vocab = build_vocab(["navy blue shirt", "black handbag", "grey sweater", "blue jeans", "navy jeans", "jeans"])
    speller = Speller(vocab)
    terms = analyze("navy handbg sweter jeens qwzx 😀", vocab, speller, max_len=16)
    assert terms.known == ["navy"]
    assert terms.corrected == {"handbg": "handbag", "sweter": "sweater", "jeens": "jeans"}
    assert terms.unknown == ["qwzx"]
    assert terms.ids == [vocab["navy"], vocab["handbag"], vocab["sweater"], vocab["jeans"]]


def test_a_query_of_unknown_words_gets_no_vector():
    vocab = build_vocab(["navy blue shirt"])
    terms = analyze("trainers keychain", vocab, Speller(vocab), max_len=16)
    assert not terms.embeddable and terms.unknown == ["trainers", "keychain"]


def test_short_words_are_not_corrected():
    vocab = build_vocab(["tee top"])
    assert Speller(vocab).correct("tep") is None


def test_a_query_names_attribute_values_the_catalog_has_longest_first():
    words = AttributeWords({"gender": ["Men", "Women", "Unisex", "Boys"], "colour": ["Blue", "Navy Blue", "Black"]},
                           {"gender": {"Men": {"Unisex"}, "Women": {"Unisex"}}})
    assert words.named("men navy blue shirt") == {"gender": ["Men", "Unisex"], "colour": ["Navy Blue"]}  # not Blue too
    assert words.named("Womens BLACK watch") == {"gender": ["Women", "Unisex"], "colour": ["Black"]}
    assert words.named("boys tshirt") == {"gender": ["Boys"]} and words.named("running shoes") == {}
    assert words.named("menthol candle") == {}  # whole words only


def test_the_attribute_bonus_raises_products_with_the_named_values_by_their_share():
    hits = [{"_id": "a", "_score": 1.0, "fields": {"attributes.gender": ["Women"], "attributes.colour": ["Black"]}},
            {"_id": "b", "_score": 0.9, "fields": {"attributes.gender": ["Men"], "attributes.colour": ["Black"]}},
            {"_id": "c", "_score": 0.8, "fields": {"attributes.gender": ["Unisex"]}}]
    named = {"gender": ["Men", "Unisex"], "colour": ["Black"]}
    raised = with_attribute_bonus(hits, named, 0.5)
    assert [(h["_id"], h["_score"]) for h in raised] == [("b", 1.4), ("a", 1.25), ("c", 1.05)]
    assert with_attribute_bonus(hits, named, 0.0) is hits and with_attribute_bonus(hits, {}, 0.5) is hits


def test_the_bonus_is_a_share_of_the_top_fused_score_in_either_fusion():
    # first in both lists: 1 + 2 in normalized, (1 + 2) / (rrf_k + 1) in rrf (fuse's own scores)
    first = {"_id": "a", "_score": 1.0}
    for mode, rrf_k in (("normalized", 60), ("rrf", 60), ("rrf", 10)):
        request = SearchRequest("navy shirt", mode, keyword_boost=1.0, knn_boost=2.0, rrf_k=rrf_k)
        top = fuse([first, {"_id": "b", "_score": 0.5}], [first, {"_id": "c", "_score": 0.2}], mode, 1.0, 2.0, rrf_k)[0]
        assert top["_id"] == "a" and top_fused_score(request) == pytest.approx(top["_score"])


def test_a_result_card_from_doc_values_reads_as_its_source():
    fields = {"product_id": ["7"], "title.raw": ["Navy Shirt"], "category.raw": ["Apparel > Topwear > Shirts"],
              "category_path": ["Apparel", "Apparel > Topwear", "Apparel > Topwear > Shirts"],
              "attributes.gender": ["Men"], "attributes.colour": ["Navy Blue"], "price": [12.989999771118164],
              "currency": ["EUR"]}
    assert card_of(fields) == {"product_id": "7", "title": "Navy Shirt", "category": "Apparel > Topwear > Shirts",
                               "attributes": {"colour": "Navy Blue", "gender": "Men"}, "price": 12.99, "currency": "EUR"}
    assert card_of({"product_id": ["8"], "title.raw": ["x"]}) == {"product_id": "8", "title": "x", "attributes": {}}
