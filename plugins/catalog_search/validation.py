"""Great Expectations (1.x) suites for every hand-off, and a failure a person can act on.

GX is imported inside the functions: it takes seconds to import and must never be loaded
while Airflow parses DAG files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

MAX_TITLE_LENGTH = 500


class ValidationFailed(RuntimeError):
    """A suite failed; ``str()`` lists each broken rule with counts and examples."""

    def __init__(self, report: "ValidationReport"):
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

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def summary(self) -> str:
        failed = [r for r in self.results if not r.success]
        head = f"suite {self.suite!r} on {self.where} ({self.rows} rows): "
        head += "passed" if not failed else f"{len(failed)} of {len(self.results)} rule(s) failed"
        return "\n".join([head] + ["  " + r.describe() for r in self.results])

    def as_dict(self) -> dict:
        return {
            "suite": self.suite, "where": self.where, "rows": self.rows, "success": self.success,
            "results": [r.__dict__ for r in self.results],
        }


def snapshot_expectations(gxe: Any) -> list:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="product_id"),
        gxe.ExpectColumnValuesToBeUnique(column="product_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="title"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="title", min_value=1, max_value=MAX_TITLE_LENGTH),
        gxe.ExpectColumnValuesToNotBeNull(column="category"),
        gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
    ]


def embeddings_expectations(gxe: Any, expected_rows: int, dim: int) -> list:
    return [
        gxe.ExpectTableRowCountToEqual(value=expected_rows),
        gxe.ExpectColumnValuesToBeUnique(column="product_id"),
        gxe.ExpectColumnValuesToBeInSet(column="embedding_dim", value_set=[dim]),
        gxe.ExpectColumnValuesToNotBeNull(column="embedding_norm"),
        gxe.ExpectColumnValuesToBeBetween(column="embedding_norm", min_value=1e-6),
    ]


def validate(frame: pd.DataFrame, suite: str, where: str, expectations: Callable[[Any], list]) -> ValidationReport:
    """Run one suite on a DataFrame and return its report (use ``require`` to raise)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas(f"{suite}-source")
        .add_dataframe_asset(suite)
        .add_batch_definition_whole_dataframe("whole")
    )
    expectation_suite = context.suites.add(gx.ExpectationSuite(name=suite))
    for expectation in expectations(gxe):
        expectation_suite.add_expectation(expectation)
    outcome = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(expectation_suite)
    return ValidationReport(suite, where, len(frame), [_rule_result(r) for r in outcome.results])


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
