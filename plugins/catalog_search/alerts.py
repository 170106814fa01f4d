"""Failure alerts: which task of which run failed, why, and whether a retry can help; sent to an
SNS topic on AWS (``CATALOG_SEARCH_ALERT_TOPIC_ARN``) or, without one, written to the log.

``dag_support.FailureAlert`` calls this when a task has failed for good (its retries spent, or
a permanent error such as a refused gate or a failed check), so one failure is one alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from catalog_search.errors import ErrorKind, classify

log = logging.getLogger(__name__)

SNS_SUBJECT_MAX = 100  # SNS refuses longer subjects
SNS_MESSAGE_MAX = 256 * 1024  # bytes, SNS's limit of a message


@dataclass(frozen=True)
class Alert:
    subject: str
    message: str


def failure_alert(dag_id: str, task_id: str, run_id: str, try_number: int, error: BaseException | None) -> Alert:
    """The alert of a failed task: the error's own message carries what is wrong and how to fix it."""
    reason = f"{type(error).__name__}: {error}" if error is not None else "no exception recorded (see the task log)"
    kind = classify(error) if error is not None else None
    advice = ("a permanent error: a retry cannot fix it; read the reason, fix the cause, then clear the task"
              if kind is ErrorKind.PERMANENT else "its retries are spent: clear the task once the service answers again")
    return Alert(
        subject=f"catalog-search: {dag_id}.{task_id} failed"[:SNS_SUBJECT_MAX],
        message=f"{dag_id}.{task_id} failed in run {run_id} (try {try_number}).\n\n{reason}\n\nThis is {advice}.",
    )


def send(alert: Alert, topic_arn: str, sns: Callable[[], Any]) -> None:
    """Publish to the topic, or log when there is none; ``sns`` makes the client only when needed."""
    if not topic_arn:
        log.error("ALERT %s\n%s", alert.subject, alert.message)
        return
    sns().publish(**publish_request(alert, topic_arn))
    log.info("alert sent to %s: %s", topic_arn, alert.subject)


def publish_request(alert: Alert, topic_arn: str) -> dict:
    """SNS Publish of the alert, within SNS's limits (a long error is cut, saying so)."""
    message = alert.message
    if len(message.encode()) > SNS_MESSAGE_MAX:
        cut = "\n[… cut: the whole error is in the task log]"
        message = message.encode()[: SNS_MESSAGE_MAX - len(cut.encode())].decode(errors="ignore") + cut
    return {"TopicArn": topic_arn, "Subject": alert.subject, "Message": message}
