"""The package's exception classes.

Every error a user can cause (bad input, missing hardware, a mismatching file) is raised as a
:class:`LayerpowerError` whose message says what was wrong, where, and what to do. The CLI prints it as
one line and exits with status 2, never with a traceback.
"""

from __future__ import annotations


class LayerpowerError(Exception):
    """Base class for errors that carry a message meant for the user."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class UnknownModelError(LayerpowerError):
    """A model name that the zoo cannot resolve."""


class PowerSourceError(LayerpowerError):
    """A power source that is absent, unreadable or failed while reading."""


class SchemaError(LayerpowerError):
    """A data file whose columns, values or schema version do not match what the reader expects."""


class BundleError(LayerpowerError):
    """A predictor bundle that is missing, tampered with, or does not match the request."""
