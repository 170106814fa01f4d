"""The run report page: every task with its state and what it returned, every suite with its outcome and Data Docs."""

from html.parser import HTMLParser

import pytest

from catalog_search.run_report import FAILURE_KEY, TaskOutcome, recording_failure, render


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


def test_a_job_task_shows_its_job_its_status_and_the_instances_it_used():
    processing = {"Processing": {"ProcessingJobName": "cs-chk-x", "ProcessingJobStatus": "Completed", "ProcessingInputs": [],
                                 "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                                           "VolumeSizeInGB": 30}}}}
    transform = {"Model": {"ModelName": "cs-o2v-x"},
                 "Transform": {"TransformJobName": "cs-embed-x", "TransformJobStatus": "Completed",
                               "TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 4}}}
    page = parsed(render("catalog_enrichment", "r", [TaskOutcome("assemble_enriched", "success", processing),
                                                     TaskOutcome("batch_transform", "success", transform)], []))
    text = " ".join(c for c in page.chunks if c)
    assert "assemble_enriched success processing cs-chk-x status Completed instances 1 × ml.m5.xlarge" in text
    assert "batch_transform success model cs-o2v-x transform cs-embed-x status Completed instances 4 × ml.c5.xlarge" in text
    assert "ProcessingInputs" not in text


def test_user_text_in_a_result_is_escaped_and_floats_are_short():
    page = render("d", "r", [TaskOutcome("t", "success", {"title": "<script>x</script>", "ndcg@10": 0.912345678})], [])
    assert "<script>" not in page and "&lt;script&gt;" in page and "0.9123" in page and "No suite ran" in page


class _TaskInstance:
    def __init__(self, try_number: int):
        self.try_number, self.pushed = try_number, {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def test_a_failed_try_leaves_its_error_and_try_number_and_the_error_goes_on():
    ti = _TaskInstance(2)
    message = "index x refused on the golden queries: nDCG@10 0.612 against 0.927\n" + "\n".join(f"line {i}" for i in range(10))
    with pytest.raises(ValueError, match="refused"), recording_failure(ti):
        raise ValueError(message)
    failure = ti.pushed[FAILURE_KEY]
    assert failure["try_number"] == 2 and failure["error"].startswith("ValueError: index x refused")
    assert "line 4" in failure["error"] and "line 5" not in failure["error"] and "(5 more lines in the task log)" in failure["error"]
    with recording_failure(ti):
        pass  # a try that succeeds leaves nothing new
    assert len(ti.pushed) == 1


def test_the_page_shows_a_failed_task_s_error_and_try_next_to_its_state():
    failure = {"try_number": 1, "error": "SearchQualityFailed: index products-2 refused on the golden queries"}
    outcomes = [TaskOutcome("build_and_validate_index", "success", {"index": "products-2"}),
                TaskOutcome("check_search_quality", "failed", None, failure),
                TaskOutcome("swap_alias", "upstream_failed"),
                TaskOutcome("needs_publishing", "success", True, {"try_number": 1, "error": "ConnectionError: refused"})]
    text = " ".join(c for c in parsed(render("search_index_publish", "r", outcomes, [])).chunks if c)
    assert "check_search_quality failed try 1 SearchQualityFailed: index products-2 refused on the golden queries" in text
    assert "ConnectionError" not in text  # an earlier try's error, on a task that then succeeded
