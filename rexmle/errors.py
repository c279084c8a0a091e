"""Exceptions that reach the user as one clear line (the CLI prints ``str(exc)`` and exits 2)."""


class RexmleError(Exception):
    """Base class: the message is a complete, single-line explanation with what to do."""


class ConfigError(RexmleError):
    """A challenge.yaml / agent.yaml / sweep file is malformed."""


class NotFoundError(RexmleError):
    """An unknown challenge, agent, run or path."""


class DataError(RexmleError):
    """Download, checksum or preparation failed."""


class InvalidSubmission(RexmleError):
    """The submission is malformed; the message becomes ``result.reason``."""
