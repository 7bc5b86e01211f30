"""Errors that the CLI turns into a one-line message and a non-zero exit (no traceback)."""


class CurationError(Exception):
    """A user-facing problem: bad input path, bad config, an input with no documents."""
