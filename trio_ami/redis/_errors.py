"""The scale-out's errors, in trio-ami's one hierarchy (all are :class:`~trio_ami.AMIError`)."""

from __future__ import annotations

from ..sansio import AMIConnectionError, AMIError

__all__ = ["MalformedEntry", "RedisUnavailable", "ScaleOutError", "ServerUnavailable"]


class ScaleOutError(AMIError):
    """An error of the Redis scale-out."""


class RedisUnavailable(ScaleOutError):
    """Redis could not be reached when starting (a running collector or worker retries)."""


class MalformedEntry(ScaleOutError, ValueError):
    """A stream entry or reply that does not read as one: skipped, counted and logged."""


class ServerUnavailable(ScaleOutError, AMIConnectionError):
    """No collector could send the action: the server's connection is down, the action was not
    sent."""
