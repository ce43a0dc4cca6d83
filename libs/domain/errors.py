"""Domain errors.

Adapters translate vendor exceptions into these so that use cases and the edges (HTTP, worker)
decide between "retry later" and "give up" without knowing which vendor failed.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Conflict(DomainError):
    """The request contradicts the stored state (taken name, finished job, reused key)."""


class IllegalJobTransition(Conflict):
    """The job's status does not allow the change asked for (claiming a finished job, cancelling
    a succeeded one, finishing a job that is no longer running)."""


class InvalidRequest(DomainError):
    """The request cannot be served as asked; ``errors`` names each bad field."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class RetryableError(DomainError):
    """A transient failure: the same work may succeed later (the worker backs off and retries)."""


class StorageUnavailable(RetryableError):
    """The database cannot be reached or refused the transaction for a transient reason."""


class StaleJobVersion(RetryableError):
    """The job was saved by another writer (a worker, a cancel, the sweeper) since this copy was
    read: read it again and decide again."""


class RestartRequired(DomainError):
    """This process cannot go on with what it was given at start (credentials rotated since):
    a long-running process stops and exits non-zero so its supervisor starts a fresh one."""


class StorageCredentialsRejected(StorageUnavailable, RestartRequired):
    """The database refused this process's credentials (a rotated password, a role that may not
    log in). The work at hand is retried later like in any storage outage; the process itself
    must restart to read the current secret."""


class QueueUnavailable(RetryableError):
    """The message queue cannot be reached."""


class ProviderUnavailable(RetryableError):
    """A market or macro data provider timed out or answered 5xx."""


class ProviderRateLimited(ProviderUnavailable):
    """A provider answered 429 or equivalent."""


class PermanentFailure(DomainError):
    """The work can never succeed as given; retrying is pointless (dead-letter it)."""


class InvalidMessage(PermanentFailure):
    """A queue body that does not validate against the message contracts."""
