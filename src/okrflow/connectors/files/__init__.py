"""Generic CSV/JSON files, so any tool can feed okrflow (docs/connectors/files.md has the columns)."""

from okrflow.connectors.files.reader import FileBatch, FileFormatError, detect_kind, read_files

__all__ = ["FileBatch", "FileFormatError", "detect_kind", "read_files"]
