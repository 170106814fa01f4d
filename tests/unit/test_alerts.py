"""Failure alerts: the message says what failed and why, and goes to SNS when a topic is set, to the log otherwise."""

from __future__ import annotations

import logging

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns import sns_backends

from catalog_search.alerts import SNS_SUBJECT_MAX, failure_alert, send
from catalog_search.training.gating import GateFailed


def test_a_refused_gate_is_alerted_with_its_numbers_as_a_permanent_failure():
    error = GateFailed("model cs-o2v-x not promoted: test:accuracy 0.52 below the minimum 0.75. The champion is unchanged.")
    alert = failure_alert("embedding_training", "gate_and_register", "scheduled__2026-11-29T03:00:00+00:00", 1, error)
    assert alert.subject == "catalog-search: embedding_training.gate_and_register failed"
    assert "GateFailed: model cs-o2v-x not promoted: test:accuracy 0.52 below the minimum 0.75" in alert.message
    assert "scheduled__2026-11-29T03:00:00+00:00 (try 1)" in alert.message and "a retry cannot fix it" in alert.message


def test_a_failure_after_retries_says_so_and_a_long_subject_fits_sns():
    alert = failure_alert("d" * 80, "t" * 40, "r", 4, ConnectionRefusedError("127.0.0.1:9200"))
    assert len(alert.subject) == SNS_SUBJECT_MAX and "retries are spent" in alert.message


def test_without_a_topic_the_alert_goes_to_the_log(caplog):
    def no_sns():
        raise AssertionError("no SNS client without a topic")

    with caplog.at_level(logging.ERROR, logger="catalog_search.alerts"):
        send(failure_alert("d", "t", "r", 1, ValueError("bad")), "", no_sns)
    assert "ALERT catalog-search: d.t failed" in caplog.text and "ValueError: bad" in caplog.text


def test_with_a_topic_the_alert_is_published_to_sns(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="catalog-search-alerts")["TopicArn"]
        send(failure_alert("d", "t", "r", 1, ValueError("bad")), topic, lambda: sns)
        sent = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[topic].sent_notifications
    assert [(subject, "ValueError: bad" in message) for _, message, subject, *_ in sent] == [("catalog-search: d.t failed", True)]
