from catalog_search.gating import decide, metrics_by_name


def test_first_model_passes_when_above_the_minimum():
    assert decide({"validation:accuracy": 0.9}, None, minimum=0.75, tolerance=0.02).passed


def test_below_minimum_fails_with_the_reason():
    decision = decide({"validation:accuracy": 0.6}, None, minimum=0.75, tolerance=0.02)
    assert not decision.passed and "below the minimum" in decision.reasons[0]


def test_worse_than_champion_beyond_tolerance_fails():
    assert decide({"validation:accuracy": 0.89}, {"validation:accuracy": 0.90}, 0.75, 0.02).passed
    decision = decide({"validation:accuracy": 0.85}, {"validation:accuracy": 0.90}, 0.75, 0.02)
    assert not decision.passed and "champion" in decision.reasons[0]


def test_missing_or_nan_metric_fails():
    assert not decide({}, None, 0.75, 0.02).passed
    assert not decide({"validation:accuracy": float("nan")}, None, 0.75, 0.02).passed


def test_metrics_from_a_describe_training_job_answer():
    description = {"FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.91}]}
    assert metrics_by_name(description) == {"validation:accuracy": 0.91}
