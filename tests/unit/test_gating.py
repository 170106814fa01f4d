from catalog_search.training.gating import Candidate, Thresholds, decide, metrics_by_name

LIMITS = Thresholds(min_accuracy=0.75, max_cross_entropy=0.5, accuracy_tolerance=0.02, cross_entropy_tolerance=0.05,
                    min_purity=0.5)
SET, OTHER_SET = "evaluation/t1/pairs.parquet@aaaa", "evaluation/t2/pairs.parquet@bbbb"


def model(accuracy, cross_entropy, evaluation_set=SET, purity=0.9) -> Candidate:
    return Candidate({"test:accuracy": accuracy, "test:cross_entropy": cross_entropy}, evaluation_set, purity)


def test_a_first_model_above_the_thresholds_passes_on_thresholds_only():
    decision = decide(model(0.9, 0.3), None, LIMITS)
    assert decision.passed and decision.notes == ("no champion yet: thresholds only",)


def test_each_threshold_fails_with_its_reason():
    assert "test:accuracy 0.6000 is below the minimum" in decide(model(0.6, 0.3), None, LIMITS).reasons[0]
    assert "test:cross_entropy 0.6900 is above the maximum" in decide(model(0.9, 0.69), None, LIMITS).reasons[0]
    assert "purity@10 0.100 is below the minimum" in decide(model(0.9, 0.3, purity=0.1), None, LIMITS).reasons[0]


def test_the_champion_is_compared_on_the_same_evaluation_set_within_tolerances():
    champion = model(0.90, 0.30, purity=None)
    assert decide(model(0.89, 0.34), champion, LIMITS).passed
    worse = decide(model(0.85, 0.40), champion, LIMITS)
    assert len(worse.reasons) == 2 and all("champion" in r for r in worse.reasons)
    assert "compared with the champion on evaluation set" in worse.notes[0]


def test_a_champion_scored_on_another_set_is_not_compared():
    decision = decide(model(0.80, 0.45), model(0.95, 0.10, OTHER_SET, None), LIMITS)
    assert decision.passed and "thresholds only" in decision.notes[0]


def test_missing_or_nan_metrics_fail():
    assert not decide(Candidate({}, SET), None, LIMITS).passed
    assert not decide(model(float("nan"), 0.3), None, LIMITS).passed


def test_metrics_from_a_describe_training_job_answer():
    description = {"FinalMetricDataList": [{"MetricName": "test:accuracy", "Value": 0.91}]}
    assert metrics_by_name(description) == {"test:accuracy": 0.91}
