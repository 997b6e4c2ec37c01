"""Connectors turn a source (Jira, GitHub, GitLab, files) into domain records. No HTTP framework here."""
