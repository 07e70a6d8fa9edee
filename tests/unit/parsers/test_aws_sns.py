"""AWS SNS deliveries (CloudWatch alarms, AWS Health) → events, and subscription URLs."""

from __future__ import annotations

import json

import pytest

from ingest.parsers import aws_sns
from tests.unit.parsers.helpers import as_json, load, md5, raises_parse_error

ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-1 CPU high"
ALARM = {
    "event_key": md5(ALARM_ARN),
    "event_type": "ALERT",
    "title": "web-1 CPU high",
    "description": (
        "Threshold Crossed: 1 out of the last 1 datapoints [91.5 (01/05/24 12:00:00)] was "
        "greater than the threshold (80.0) (minimum 1 datapoint for OK -> ALARM transition)."
    ),
    "severity": "ERROR",
    "rule": "web-1 CPU high",
    "resource": {
        "resource_id": "i-0abc123def4567890",
        "resource_type": "AWS/EC2",
        "name": "i-0abc123def4567890",
    },
    "provider": "aws",
    "account": "123456789012",
    "image_url": "",
    "occurred_at": "2024-05-01T12:05:11.912Z",
    "additional_info": {
        "alarm_arn": ALARM_ARN,
        "alarm_description": "CPU above 80% for 5 minutes",
        "region": "EU (Ireland)",
        "old_state": "OK",
        "new_state": "ALARM",
        "metric_name": "CPUUtilization",
        "namespace": "AWS/EC2",
        "dimensions": {"InstanceId": "i-0abc123def4567890"},
    },
}
HEALTH_ARN = (
    "arn:aws:health:us-west-2::event/EC2/AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED/"
    "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED_90353408594353980"
)
HEALTH_OPEN = {
    "event_key": HEALTH_ARN,
    "event_type": "ALERT",
    "title": "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
    "description": "The instance store drive of i-abcd1111 is experiencing degraded performance.",
    "severity": "ERROR",
    "rule": "issue",
    "resource": {"resource_id": "i-abcd1111", "resource_type": "EC2", "name": "i-abcd1111"},
    "provider": "aws",
    "account": "123456789012",
    "image_url": "",
    "occurred_at": "2024-05-01T05:10:09.000Z",
    "additional_info": {
        "region": "us-west-2",
        "service": "EC2",
        "event_type_code": "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
        "event_type_category": "issue",
        "status_code": "open",
        "affected_entities": ["i-abcd1111"],
        "start_time": "2024-05-01T05:10:09.000Z",
    },
}
SUBSCRIBE_URL = load("aws_sns/subscription_confirmation.json")["SubscribeURL"]

CASES = [
    pytest.param("aws_sns/cloudwatch_alarm.json", [ALARM], id="cloudwatch-alarm"),
    pytest.param(
        "aws_sns/cloudwatch_ok.json",
        [
            {
                **ALARM,
                "event_type": "RECOVERY",
                "severity": "INFO",
                "description": (
                    "Threshold Crossed: 1 out of the last 1 datapoints [12.25 (01/05/24 "
                    "12:25:00)] was not greater than the threshold (80.0) (minimum 1 "
                    "datapoint for ALARM -> OK transition)."
                ),
                "occurred_at": "2024-05-01T12:30:11.000Z",
                "additional_info": {
                    **ALARM["additional_info"],
                    "old_state": "ALARM",
                    "new_state": "OK",
                },
            }
        ],
        id="cloudwatch-ok-pairs-with-alarm",
    ),
    pytest.param(
        "aws_sns/cloudwatch_raw_insufficient_data.json",
        [
            {
                "event_key": md5(
                    "arn:aws:cloudwatch:us-east-1:210987654321:alarm:orders-db free storage"
                ),
                "event_type": "ALERT",
                "title": "orders-db free storage",
                "description": "Insufficient Data: 1 datapoint was unknown.",
                "severity": "NOT_AVAILABLE",
                "rule": "orders-db free storage",
                "resource": {
                    "resource_id": "orders-db",
                    "resource_type": "AWS/RDS",
                    "name": "orders-db",
                },
                "provider": "aws",
                "account": "210987654321",
                "image_url": "",
                "occurred_at": "2024-05-02T03:15:00.000Z",
                "additional_info": {
                    "alarm_arn": (
                        "arn:aws:cloudwatch:us-east-1:210987654321:alarm:orders-db free storage"
                    ),
                    "region": "US East (N. Virginia)",
                    "old_state": "OK",
                    "new_state": "INSUFFICIENT_DATA",
                    "metric_name": "FreeStorageSpace",
                    "namespace": "AWS/RDS",
                    "dimensions": {"DBInstanceIdentifier": "orders-db"},
                },
            }
        ],
        id="raw-cloudwatch-insufficient-data",
    ),
    pytest.param(
        "aws_sns/cloudwatch_metric_math.json",
        [
            {
                "event_key": md5(
                    "arn:aws:cloudwatch:ap-northeast-2:257706363616:alarm:"
                    "ContainerInsight-pod_cpu_utilization"
                ),
                "event_type": "ALERT",
                "title": "ContainerInsight-pod_cpu_utilization",
                "description": (
                    "Thresholds Crossed: 1 out of the last 1 datapoints [0.3647 (25/08/21 "
                    "13:28:00)] was less than the lower thresholds [0.3745] or greater than "
                    "the upper thresholds [0.4233] (minimum 1 datapoint for OK -> ALARM "
                    "transition)."
                ),
                "severity": "ERROR",
                "rule": "ContainerInsight-pod_cpu_utilization",
                "resource": {
                    "resource_id": "dev-eks-cluster",
                    "resource_type": "ContainerInsights",
                    "name": "dev-eks-cluster",
                },
                "provider": "aws",
                "account": "257706363616",
                "image_url": "",
                "occurred_at": "2021-08-25T13:29:39.346Z",
                "additional_info": {
                    "alarm_arn": (
                        "arn:aws:cloudwatch:ap-northeast-2:257706363616:alarm:"
                        "ContainerInsight-pod_cpu_utilization"
                    ),
                    "region": "Asia Pacific (Seoul)",
                    "old_state": "OK",
                    "new_state": "ALARM",
                    "metric_name": "pod_cpu_utilization",
                    "namespace": "ContainerInsights",
                    "dimensions": {"ClusterName": "dev-eks-cluster"},
                },
            }
        ],
        id="cloudwatch-metric-math",
    ),
    pytest.param("aws_sns/health_issue_open.json", [HEALTH_OPEN], id="health-issue-open"),
    pytest.param(
        "aws_sns/health_raw_closed.json",
        [
            {
                **HEALTH_OPEN,
                "event_type": "RECOVERY",  # keeps the category's ERROR
                "occurred_at": "2024-05-01T08:45:00.000Z",  # endTime
                "additional_info": {
                    **HEALTH_OPEN["additional_info"],
                    "status_code": "closed",
                    "end_time": "2024-05-01T08:45:00.000Z",
                },
            }
        ],
        id="raw-health-closed-pairs-with-open",
    ),
    pytest.param(
        "aws_sns/health_account_notification.json",
        [
            {
                "event_key": (
                    "arn:aws:health:eu-central-1::event/RDS/AWS_RDS_PLANNED_LIFECYCLE_EVENT/"
                    "AWS_RDS_PLANNED_LIFECYCLE_EVENT_abc"
                ),
                "event_type": "ALERT",
                "title": "AWS_RDS_PLANNED_LIFECYCLE_EVENT",
                "description": (
                    "PostgreSQL 11 reaches end of standard support.\n\n"
                    "PostgreSQL 11 erreicht das Ende des Standardsupports."
                ),
                "severity": "INFO",
                "rule": "accountNotification",
                "resource": {"resource_id": "", "resource_type": "RDS", "name": ""},
                "provider": "aws",
                "account": "123456789012",
                "image_url": "",
                "occurred_at": "2024-05-03T10:00:00.000Z",
                "additional_info": {
                    "region": "eu-central-1",
                    "service": "RDS",
                    "event_type_code": "AWS_RDS_PLANNED_LIFECYCLE_EVENT",
                    "event_type_category": "accountNotification",
                    "status_code": "upcoming",
                    "start_time": "2024-05-03T10:00:00.000Z",
                },
            }
        ],
        id="health-account-notification",
    ),
    pytest.param("aws_sns/subscription_confirmation.json", [], id="subscription-confirmation"),
]


@pytest.mark.parametrize(("payload", "expected"), CASES)
def test_payload_maps_to_events(payload: str, expected: list[dict]) -> None:
    assert as_json(aws_sns.parse(load(payload), {})) == expected


def test_unsubscribe_confirmation_gives_no_events() -> None:
    envelope = {**load("aws_sns/subscription_confirmation.json"), "Type": "UnsubscribeConfirmation"}
    assert aws_sns.parse(envelope, {}) == []


def test_unknown_alarm_state_is_alert_with_no_severity() -> None:
    alarm = json.loads(load("aws_sns/cloudwatch_alarm.json")["Message"])
    [event] = aws_sns.parse({**alarm, "NewStateValue": "SNOOZED"}, {})
    assert (event.event_type, event.severity) == ("ALERT", "NONE")


def test_health_without_start_time_falls_back_to_event_time() -> None:
    health = load("aws_sns/health_raw_closed.json")
    del health["detail"]["startTime"], health["detail"]["endTime"]
    [event] = aws_sns.parse(health, {})
    assert event.model_dump(mode="json")["occurred_at"] == "2024-05-01T09:00:00.000Z"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "AWS SNS payload must be a JSON object, got null"),
        ({"hello": "world"}, "AWS SNS payload is neither an SNS message (no 'Type')"),
        ({"Type": "Notification"}, "SNS Notification has no 'Message' text"),
        ({"Type": "Notification", "Message": "CPU is high!"}, "SNS Message is not JSON"),
        ({"Type": "Notification", "Message": "[1, 2]"}, "SNS Message must be a JSON object"),
        ({"Type": "Notification", "Message": "[" * 100_000}, "SNS Message is not JSON"),
        (
            {"Type": "Notification", "Message": '{"source": "aws.ec2"}'},
            "SNS Message is neither a CloudWatch alarm",
        ),
        ({"Type": "Publish", "Message": "{}"}, "AWS SNS message Type 'Publish' is not a"),
        ({"AlarmArn": ""}, "CloudWatch alarm has no 'AlarmArn'"),
        (
            {"AlarmArn": "arn:x", "Trigger": {"Dimensions": [{"name": "a", "value": []}]}},
            "CloudWatch alarm.Trigger.Dimensions[0].value must be text or a number, got list",
        ),
        (
            {"AlarmArn": "arn:x", "StateChangeTime": "2024-13-45T99:00:00+0000"},
            "CloudWatch alarm.StateChangeTime is not a time",
        ),
        ({"source": "aws.health", "detail": {}}, "AWS Health event.detail has no 'eventArn'"),
        (
            {"source": "aws.health", "detail": {"eventArn": "a", "affectedEntities": [5]}},
            "AWS Health event.detail.affectedEntities[0] must be a JSON object, got number",
        ),
    ],
)
def test_garbage_is_a_parse_error(data: object, message: str) -> None:
    with raises_parse_error(message):
        aws_sns.parse(data, {})


@pytest.mark.parametrize(
    "url",
    [
        SUBSCRIBE_URL,
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        "https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
        "https://sns.ap-southeast-4.amazonaws.com:443/?Action=ConfirmSubscription&Token=t",
    ],
)
def test_subscription_confirmation_returns_aws_url(url: str) -> None:
    confirmation = {**load("aws_sns/subscription_confirmation.json"), "SubscribeURL": url}
    assert aws_sns.subscription_confirmation(confirmation) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://evil.com/sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com@evil.com/",
        "https://user:pw@sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com:8443/",
        "https://sns.us-east-1.amazonaws.com:port/",
        "https://sqs.us-east-1.amazonaws.com/",
        "https://sns.amazonaws.com/",
        "https://evilsns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com\\@evil.com/",
        "file:///etc/passwd",
        "",
        42,
        None,
    ],
)
def test_subscription_confirmation_rejects_other_urls(url: object) -> None:
    confirmation = {**load("aws_sns/subscription_confirmation.json"), "SubscribeURL": url}
    assert aws_sns.subscription_confirmation(confirmation) is None


@pytest.mark.parametrize(
    "data",
    [load("aws_sns/cloudwatch_alarm.json"), "SubscriptionConfirmation", None, [SUBSCRIBE_URL]],
)
def test_subscription_confirmation_ignores_other_messages(data: object) -> None:
    assert aws_sns.subscription_confirmation(data) is None
