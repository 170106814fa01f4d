"""The run report page: every task with its state and what it returned, every suite with its outcome and Data Docs."""

from html.parser import HTMLParser

from catalog_search.run_report import TaskOutcome, render


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks, self.links = [], []

    def handle_data(self, data):
        self.chunks.append(data.strip())

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name == "href"]


def parsed(page: str) -> Text:
    text = Text()
    text.feed(page)
    return text


def test_the_page_shows_each_task_s_state_and_facts_and_each_suite_with_its_data_docs():
    outcomes = [TaskOutcome("land_snapshot", "success", {"snapshot_id": "s1", "products": 44439, "rejected": 7}),
                TaskOutcome("validate_snapshot", "failed", None),
                TaskOutcome("publish_snapshot", "upstream_failed")]
    suites = [{"suite": "catalog_snapshot", "success": False, "rows": 44439, "diff": {"added": 880, "removed": 444},
               "data_docs_uri": "s3://b/reports/x/data_docs/catalog_snapshot/index.html",
               "results": [{"rule": "product_id is unique", "success": False, "observed": "3 duplicates"},
                           {"rule": "title is present", "success": True, "observed": None}]}]
    page = parsed(render("catalog_refresh", "manual__1", outcomes, suites))
    text = " ".join(c for c in page.chunks if c)
    assert "failed: validate_snapshot, publish_snapshot" in text
    assert "land_snapshot success snapshot_id s1 products 44439 rejected 7" in text
    assert "product_id is unique (3 duplicates)" in text and "title is present" not in text
    assert 'diff: {"added": 880, "removed": 444}' in text
    assert page.links == ["data_docs/catalog_snapshot/index.html"]


def test_user_text_in_a_result_is_escaped_and_floats_are_short():
    page = render("d", "r", [TaskOutcome("t", "success", {"title": "<script>x</script>", "ndcg@10": 0.912345678})], [])
    assert "<script>" not in page and "&lt;script&gt;" in page and "0.9123" in page and "No suite ran" in page
