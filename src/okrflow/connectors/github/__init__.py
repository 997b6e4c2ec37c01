"""GitHub connector: REST v3 client, parsers of issues/timelines, pull requests, deployments. Returns domain
records (work items, changes, deployments, incidents)."""

from okrflow.connectors.github.client import DEFAULT_API_URL, GitHubClient
from okrflow.connectors.github.connector import fetch, settings_from
from okrflow.connectors.github.parser import parse_deployment, parse_incident, parse_issue, parse_pull

__all__ = [
    "DEFAULT_API_URL",
    "GitHubClient",
    "fetch",
    "parse_deployment",
    "parse_incident",
    "parse_issue",
    "parse_pull",
    "settings_from",
]
