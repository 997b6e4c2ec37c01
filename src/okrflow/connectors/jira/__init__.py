"""Jira connector: Cloud REST v3 / Server REST v2 client, issue parser, CSV export reader. Returns domain records."""

from okrflow.connectors.jira.client import JiraClient, parse_retry_after
from okrflow.connectors.jira.connector import FetchResult, JiraSettings, build_jql, fetch
from okrflow.connectors.jira.parser import FieldConfig, JiraParseError, parse_issue, parse_jira_datetime

__all__ = [
    "FetchResult",
    "FieldConfig",
    "JiraClient",
    "JiraParseError",
    "JiraSettings",
    "build_jql",
    "fetch",
    "parse_issue",
    "parse_jira_datetime",
    "parse_retry_after",
]
