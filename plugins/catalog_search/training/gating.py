"""Metric gating: a model becomes champion only if it is good enough and not worse than the champion.

Models are judged on the frozen evaluation set of their taxonomy (``training_data``: every
training job of the taxonomy reports ``test:*`` on the same pairs), so a challenger is compared
with the champion only when both were scored on the same set; after a taxonomy change the
thresholds alone apply. The embedding-space check (leaf-category purity of neighbours over a
product sample) catches a space that collapsed or scattered whatever the pair metrics say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog_search.errors import PermanentError

ACCURACY = "test:accuracy"
CROSS_ENTROPY = "test:cross_entropy"


class GateFailed(PermanentError):
    """The candidate model is not published; the message says which threshold it missed."""


@dataclass(frozen=True)
class Thresholds:
    min_accuracy: float
    max_cross_entropy: float
    accuracy_tolerance: float  # how far below the champion's accuracy a challenger may be
    cross_entropy_tolerance: float  # how far above the champion's cross-entropy
    min_purity: float

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(settings.min_test_accuracy, settings.max_test_cross_entropy, settings.champion_tolerance,
                   settings.champion_cross_entropy_tolerance, settings.min_embedding_purity)


@dataclass(frozen=True)
class Candidate:
    metrics: dict[str, float]
    evaluation_set: str | None  # the frozen set its test:* metrics were measured on
    purity: float | None = None  # None: the embedding check did not run (the champion's record)


@dataclass(frozen=True)
class GateDecision:
    reasons: tuple[str, ...]  # why it fails (empty: it passes)
    notes: tuple[str, ...]  # what was or was not compared

    @property
    def passed(self) -> bool:
        return not self.reasons


def metrics_by_name(description: dict) -> dict[str, float]:
    """FinalMetricDataList of a DescribeTrainingJob answer as {name: value}."""
    return {m["MetricName"]: float(m["Value"]) for m in description.get("FinalMetricDataList", [])}


def decide(candidate: Candidate, champion: Candidate | None, limits: Thresholds) -> GateDecision:
    reasons, notes = [], []
    missing = [m for m in (ACCURACY, CROSS_ENTROPY) if not math.isfinite(candidate.metrics.get(m, math.nan))]
    if missing:
        return GateDecision((f"the job reported no usable {', '.join(missing)}; reported: {candidate.metrics}",), ())
    accuracy, cross_entropy = candidate.metrics[ACCURACY], candidate.metrics[CROSS_ENTROPY]
    if accuracy < limits.min_accuracy:
        reasons.append(f"{ACCURACY} {accuracy:.4f} is below the minimum {limits.min_accuracy:.4f}")
    if cross_entropy > limits.max_cross_entropy:
        reasons.append(f"{CROSS_ENTROPY} {cross_entropy:.4f} is above the maximum {limits.max_cross_entropy:.4f}")
    if candidate.purity is not None and not candidate.purity >= limits.min_purity:
        reasons.append(f"leaf-category purity@10 {candidate.purity:.3f} is below the minimum {limits.min_purity:.3f}")
    if champion is None:
        notes.append("no champion yet: thresholds only")
    elif champion.evaluation_set != candidate.evaluation_set or not all(m in champion.metrics for m in (ACCURACY, CROSS_ENTROPY)):
        notes.append(f"the champion was scored on evaluation set {champion.evaluation_set}, this model on "
                     f"{candidate.evaluation_set} (the taxonomy changed): thresholds only")
    else:
        notes.append(f"compared with the champion on evaluation set {candidate.evaluation_set}")
        if accuracy < champion.metrics[ACCURACY] - limits.accuracy_tolerance:
            reasons.append(f"{ACCURACY} {accuracy:.4f} is worse than the champion's {champion.metrics[ACCURACY]:.4f} "
                           f"by more than {limits.accuracy_tolerance}")
        if cross_entropy > champion.metrics[CROSS_ENTROPY] + limits.cross_entropy_tolerance:
            reasons.append(f"{CROSS_ENTROPY} {cross_entropy:.4f} is worse than the champion's "
                           f"{champion.metrics[CROSS_ENTROPY]:.4f} by more than {limits.cross_entropy_tolerance}")
    return GateDecision(tuple(reasons), tuple(notes))
