"""GitLab connector: REST v4 client, parsers of issues (+ resource state and label events), merge requests and
deployments. Returns domain records (work items, changes, deployments, incidents)."""

from okrflow.connectors.gitlab.client import DEFAULT_URL, GitLabClient
from okrflow.connectors.gitlab.connector import fetch, settings_from
from okrflow.connectors.gitlab.parser import parse_deployment, parse_incident, parse_issue, parse_merge_request

__all__ = [
    "DEFAULT_URL",
    "GitLabClient",
    "fetch",
    "parse_deployment",
    "parse_incident",
    "parse_issue",
    "parse_merge_request",
    "settings_from",
]
