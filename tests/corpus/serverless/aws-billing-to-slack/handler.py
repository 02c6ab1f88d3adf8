"""Daily AWS spend, posted to a Slack (or Teams) incoming webhook.

Written for multicloud's import corpus from the service's serverless.yml: a scheduled function that reads
Cost Explorer (ce:GetCostAndUsage) and the account alias (iam:ListAccountAliases), then posts one message.
"""

import datetime
import os

import boto3
import requests


def _days(count):
    today = datetime.date.today()
    return [today - datetime.timedelta(days=n) for n in range(count, 0, -1)]


def _account_name():
    aliases = boto3.client("iam").list_account_aliases().get("AccountAliases", [])
    return aliases[0] if aliases else boto3.client("sts").get_caller_identity()["Account"]


def _daily_costs(days):
    answer = boto3.client("ce").get_cost_and_usage(
        TimePeriod={"Start": days[0].isoformat(), "End": (days[-1] + datetime.timedelta(days=1)).isoformat()},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )
    totals = []
    for period in answer.get("ResultsByTime", []):
        amount = period.get("Total", {}).get("UnblendedCost", {}).get("Amount", "0")
        totals.append((period["TimePeriod"]["Start"], float(amount)))
    return totals


def _bar(value, peak, width=20):
    filled = 0 if peak <= 0 else round(width * value / peak)
    return "#" * filled + "." * (width - filled)


def summary(account, totals):
    peak = max((v for _, v in totals), default=0.0)
    lines = [f"AWS spend for {account}, last {len(totals)} days:"]
    lines += [f"`{day} {_bar(value, peak)} ${value:,.2f}`" for day, value in totals]
    if totals:
        lines.append(f"Yesterday: ${totals[-1][1]:,.2f}")
    return "\n".join(lines)


def lambda_handler(event, context):
    days = _days(int(os.environ.get("LENGTH", "15")))
    text = summary(_account_name(), _daily_costs(days))
    webhook = os.environ.get("SLACK_WEBHOOK_URL", "")
    if not webhook:
        print(text)
        return {"posted": False, "text": text}
    reply = requests.post(webhook, json={"text": text}, timeout=10)
    reply.raise_for_status()
    return {"posted": True, "status": reply.status_code}
