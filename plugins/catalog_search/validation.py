"""Great Expectations (1.x) suites for every hand-off, and a failure a person can act on.

GX is imported inside the functions: it takes seconds to import and must never be loaded
while Airflow parses DAG files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from catalog_search.errors import PermanentError

log = logging.getLogger(__name__)

MAX_TITLE_LENGTH = 500
DOCS_SITE = "catalog_search"


class ValidationFailed(PermanentError):
    """A suite failed; ``str()`` lists each broken rule with counts and examples."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.summary())


@dataclass
class RuleResult:
    rule: str
    success: bool
    unexpected_count: int | None = None
    examples: list = field(default_factory=list)
    observed: Any = None

    def describe(self) -> str:
        text = f"{'ok  ' if self.success else 'FAIL'} {self.rule}"
        if self.unexpected_count:
            text += f": {self.unexpected_count} row(s) break it, e.g. {self.examples[:5]}"
        elif self.observed is not None and not self.success:
            text += f": observed {self.observed}"
        return text


@dataclass
class ValidationReport:
    suite: str
    where: str
    rows: int
    results: list[RuleResult]
    docs: str | None = None

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def summary(self) -> str:
        failed = [r for r in self.results if not r.success]
        head = f"suite {self.suite!r} on {self.where} ({self.rows} rows): "
        head += "passed" if not failed else f"{len(failed)} of {len(self.results)} rule(s) failed"
        lines = [head] + ["  " + r.describe() for r in self.results]
        if self.docs:
            lines.append(f"  Data Docs: {self.docs}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "suite": self.suite, "where": self.where, "rows": self.rows, "success": self.success,
            "results": [r.__dict__ for r in self.results], "data_docs": self.docs,
        }

    @classmethod
    def from_dict(cls, value: dict) -> ValidationReport:
        """The report ``as_dict`` gave (a Processing job's, read back by its task)."""
        return cls(value["suite"], value["where"], value["rows"], [RuleResult(**r) for r in value["results"]], value.get("data_docs"))


MAX_DESCRIPTION_LENGTH = 20_000
MAX_ID_LENGTH = 256
EMPTY_CATEGORY_LEVEL = r"(?:^\s*>|>\s*>|>\s*$|^\s*$)"


def snapshot_expectations(previous_rows: int | None = None, row_tolerance: float = 0.1) -> Callable[[Any], list]:
    """The snapshot suite; with the previous snapshot's size, the row count must stay within
    ``row_tolerance`` of it (a feed that lost half the catalog must not go live)."""

    def build(gxe: Any) -> list:
        rules = [
            gxe.ExpectColumnValuesToNotBeNull(column="product_id"),
            gxe.ExpectColumnValuesToBeUnique(column="product_id"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="product_id", min_value=1, max_value=MAX_ID_LENGTH),
            gxe.ExpectColumnValuesToNotBeNull(column="title"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="title", min_value=1, max_value=MAX_TITLE_LENGTH),
            gxe.ExpectColumnValuesToNotBeNull(column="category"),
            gxe.ExpectColumnValuesToNotMatchRegex(column="category", regex=EMPTY_CATEGORY_LEVEL),
            gxe.ExpectColumnValueLengthsToBeBetween(column="description", max_value=MAX_DESCRIPTION_LENGTH),
            gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0),
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
        ]
        if previous_rows:
            rules.append(gxe.ExpectTableRowCountToBeBetween(
                min_value=int(previous_rows * (1 - row_tolerance)), max_value=int(previous_rows * (1 + row_tolerance)) + 1,
            ))
        return rules

    return build


def pairs_frame(pairs: pd.DataFrame, category: pd.Series) -> pd.DataFrame:
    """The pairs with the derived columns the pairs suite checks (category per product at the
    sampling level, as given)."""
    category = category.astype(str)
    c0 = pairs["product_id_0"].map(category)
    c1 = pairs["product_id_1"].map(category)
    splits_per_product = pd.concat([
        pairs[["product_id_0", "split"]].set_axis(["product_id", "split"], axis=1),
        pairs[["product_id_1", "split"]].set_axis(["product_id", "split"], axis=1),
    ]).drop_duplicates().groupby("product_id")["split"].size()
    return pd.DataFrame({
        "label": pairs["label"].astype(int),
        "same_category": (c0 == c1).astype(int),
        "self_pair": pairs["product_id_0"] == pairs["product_id_1"],
        "pair_low": pairs[["product_id_0", "product_id_1"]].min(axis=1),
        "pair_high": pairs[["product_id_0", "product_id_1"]].max(axis=1),
        "leaks_across_splits": (pairs["product_id_0"].map(splits_per_product) > 1) | (pairs["product_id_1"].map(splits_per_product) > 1),
    })


def pairs_expectations(positive_share: float, tolerance: float = 0.02) -> Callable[[Any], list]:
    def build(gxe: Any) -> list:
        return [
            gxe.ExpectColumnValuesToBeInSet(column="label", value_set=[0, 1]),
            gxe.ExpectColumnMeanToBeBetween(column="label", min_value=positive_share - tolerance, max_value=positive_share + tolerance),
            gxe.ExpectColumnValuesToBeInSet(column="self_pair", value_set=[False]),
            gxe.ExpectColumnPairValuesToBeEqual(column_A="label", column_B="same_category"),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["pair_low", "pair_high"]),
            gxe.ExpectColumnValuesToBeInSet(column="leaks_across_splits", value_set=[False]),
        ]

    return build


def embeddings_expectations(expected_rows: int, dim: int) -> Callable[[Any], list]:
    def build(gxe: Any) -> list:
        return [
            gxe.ExpectTableRowCountToEqual(value=expected_rows),
            gxe.ExpectColumnValuesToBeUnique(column="product_id"),
            gxe.ExpectColumnValuesToBeInSet(column="embedding_dim", value_set=[dim]),
            gxe.ExpectColumnValuesToNotBeNull(column="embedding_norm"),
            gxe.ExpectColumnValuesToBeBetween(column="embedding_norm", min_value=1e-6),
        ]

    return build


def validate(
    frame: pd.DataFrame, suite: str, where: str, expectations: Callable[[Any], list], docs_dir: Path | None = None
) -> ValidationReport:
    """Run one suite on a DataFrame (use ``require`` to raise). With ``docs_dir``, GX writes
    its Data Docs (HTML) there."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas(f"{suite}-source").add_dataframe_asset(suite).add_batch_definition_whole_dataframe("whole")
    )
    expectation_suite = context.suites.add(gx.ExpectationSuite(name=suite))
    for expectation in expectations(gxe):
        expectation_suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite, data=batch_definition, suite=expectation_suite))
    actions: list[Any] = []
    if docs_dir is not None:
        context.add_data_docs_site(DOCS_SITE, {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE]))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=suite, validation_definitions=[definition], actions=actions, result_format={"result_format": "SUMMARY"},
    ))
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    results = [r for run in outcome.run_results.values() for r in run.results]
    return ValidationReport(suite, where, len(frame), [_rule_result(r) for r in results],
                            docs=str(Path(docs_dir) / "index.html") if docs_dir else None)


def _rule_result(result: Any) -> RuleResult:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    details = result.result or {}
    return RuleResult(
        rule=f"{config.type}({', '.join(f'{k}={v}' for k, v in kwargs.items())})",
        success=bool(result.success),
        unexpected_count=details.get("unexpected_count"),
        examples=[str(v) for v in details.get("partial_unexpected_list", [])[:10]],
        observed=details.get("observed_value"),
    )


def require(report: ValidationReport) -> ValidationReport:
    if not report.success:
        raise ValidationFailed(report)
    return report


def publish(store: Any, report: ValidationReport, report_prefix: str, docs_dir: Path | None, extra: dict | None = None) -> ValidationReport:
    """Publish a suite's report and its Data Docs (the folder ``docs_dir``; None: a check that
    failed before the suite ran has none) under the run's reports/ prefix, log both places, raise
    on failure."""
    from catalog_search.store.object_keys import ObjectKeys

    docs_uri = store.upload_dir(docs_dir, ObjectKeys.data_docs(report_prefix, report.suite)) + "index.html" if docs_dir else None
    uri = store.put_json(ObjectKeys.suite_report(report_prefix, report.suite), {**report.as_dict(), **(extra or {}), "data_docs_uri": docs_uri})
    log.info("%s\nreport: %s\nData Docs: %s (local %s)", report.summary(), uri, docs_uri, report.docs)
    return require(report)


def publish_job_report(store: Any, job_output: Any, docs_prefix: str, report: dict, report_prefix: str, local_root: Path,
                       extra: dict | None = None) -> ValidationReport:
    """A Processing job's suite report (``as_dict``'s, from its summary) published as ``publish``
    does, with the Data Docs the job wrote under ``docs_prefix`` of its output store ``job_output``
    (kept locally under ``local_root`` first); raises on failure."""
    import shutil

    from catalog_search.store.object_keys import ObjectKeys

    found = ValidationReport.from_dict(report)
    docs_dir = None
    if job_output.list_keys(docs_prefix, limit=1):  # a check that failed before the suite ran wrote none
        docs_dir = Path(local_root) / ObjectKeys.data_docs(report_prefix, found.suite)
        shutil.rmtree(docs_dir, ignore_errors=True)
        job_output.download_prefix(docs_prefix, docs_dir)
        found.docs = str(docs_dir / "index.html")
    return publish(store, found, report_prefix, docs_dir, extra)
