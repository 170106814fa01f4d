import pytest

from catalog_search.search.query import SearchRequest, build_query, filter_clauses


def test_hybrid_combines_fuzzy_keywords_and_knn_with_their_boosts():
    query = build_query(SearchRequest("navy shirt", mode="hybrid", keyword_boost=2.0, knn_boost=0.5), [0.1, 0.2])
    should = query["query"]["bool"]["should"]
    keyword = should[0]["multi_match"]
    assert keyword["fuzziness"] == "AUTO:4,7" and keyword["type"] == "most_fields" and keyword["boost"] == 2.0
    assert should[1]["knn"]["embedding"]["vector"] == [0.1, 0.2] and should[1]["knn"]["embedding"]["boost"] == 0.5
    assert query["_source"] == {"includes": ["product_id", "title", "category", "attributes", "price", "currency", "brand"]}


def test_keyword_and_knn_modes_use_one_clause_each():
    assert list(build_query(SearchRequest("x", mode="keyword"), None)["query"]["bool"]["should"][0]) == ["multi_match"]
    assert list(build_query(SearchRequest("x", mode="knn"), [1.0])["query"]["bool"]["should"][0]) == ["knn"]
    with pytest.raises(ValueError, match="query vector"):
        build_query(SearchRequest("x", mode="knn"), None)


def test_pagination_and_k_cover_the_requested_page():
    query = build_query(SearchRequest("x", mode="hybrid", size=20, page=7), [1.0])
    assert query["from"] == 120 and query["size"] == 20
    assert query["query"]["bool"]["should"][1]["knn"]["embedding"]["k"] >= 140


def test_filters_apply_to_both_keyword_and_knn_parts():
    filters = {"category": "Apparel > Topwear", "gender": "Men", "price": [10, None]}
    clauses = filter_clauses(filters)
    assert {"term": {"category_path": "Apparel > Topwear"}} in clauses
    assert {"terms": {"attributes.gender": ["Men"]}} in clauses
    assert {"range": {"price": {"gte": 10}}} in clauses
    query = build_query(SearchRequest("shirt", mode="hybrid", filters=filters), [1.0])
    assert query["query"]["bool"]["filter"] == clauses
    assert query["query"]["bool"]["should"][1]["knn"]["embedding"]["filter"] == {"bool": {"filter": clauses}}


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="mode"):
        SearchRequest("x", mode="semantic")
    with pytest.raises(ValueError, match="page"):
        SearchRequest("x", page=0)
