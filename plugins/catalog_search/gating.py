"""Metric gating: a model becomes champion only if it is good enough and not worse."""

from __future__ import annotations

from dataclasses import dataclass

from catalog_search.errors import PermanentError

GATE_METRIC = "validation:accuracy"


class GateFailed(PermanentError):
    """The candidate model is not published; the message says which threshold it missed."""


@dataclass(frozen=True)
class GateDecision:
    candidate: float
    champion: float | None
    reasons: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.reasons


def metrics_by_name(description: dict) -> dict[str, float]:
    """FinalMetricDataList of a DescribeTrainingJob answer as {name: value}."""
    return {m["MetricName"]: float(m["Value"]) for m in description.get("FinalMetricDataList", [])}


def decide(metrics: dict[str, float], champion_metrics: dict[str, float] | None, minimum: float, tolerance: float) -> GateDecision:
    if GATE_METRIC not in metrics:
        return GateDecision(float("nan"), None, (f"the job reported no {GATE_METRIC}; reported: {sorted(metrics)}",))
    candidate = metrics[GATE_METRIC]
    champion = (champion_metrics or {}).get(GATE_METRIC)
    reasons = []
    if not candidate >= minimum:
        reasons.append(f"{GATE_METRIC} {candidate:.4f} is below the minimum {minimum:.4f}")
    if champion is not None and candidate < champion - tolerance:
        reasons.append(f"{GATE_METRIC} {candidate:.4f} is worse than the champion's {champion:.4f} by more than {tolerance}")
    return GateDecision(candidate, champion, tuple(reasons))
