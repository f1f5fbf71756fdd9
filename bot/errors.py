"""The error tree. Every error carries a message written for the person who will read it.

Secrets never go into an error: the client builds messages from the manager's answer, the
method and the path only, never from headers or credentials.
"""
from __future__ import annotations


class SnapbotError(Exception):
    """Base of every error snapbot raises on purpose."""

    @property
    def user_message(self) -> str:
        return str(self)


class ConfigError(SnapbotError):
    """Configuration is missing or invalid. `key` names the offending setting."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"configuration error in {key}: {problem}")


class UsageError(SnapbotError):
    """A command could not be parsed. `usage` is the usage line of the closest command."""

    def __init__(self, problem: str, usage: str = "") -> None:
        self.problem = problem
        self.usage = usage
        super().__init__(problem if not usage else f"{problem}\nusage: {usage}")


class NotAuthorized(SnapbotError):
    """The user may not do this (not an approver, the requester approving their own request...)."""


class InvalidTransition(SnapbotError):
    """A state machine was asked for a transition its table does not allow."""

    def __init__(self, machine: str, current: str, target: str) -> None:
        self.machine = machine
        self.current = current
        self.target = target
        super().__init__(f"{machine}: cannot go from {current!r} to {target!r}")


class StaleState(InvalidTransition):
    """The job's stored state is no longer the one the caller read (someone else moved it)."""


class JobConflict(SnapbotError):
    """Another snapbot job already holds the manager, or the same request was already handled."""


class JobNotFound(SnapbotError):
    """No snapbot job with that id."""


class ArchiveError(SnapbotError):
    """A snapshot archive is missing, truncated, not a zip, or fails its checksum. `manager`
    names the manager it came from or was going to, when there is one."""

    def __init__(self, message: str, *, manager: str = "") -> None:
        self.manager = manager
        super().__init__(message)


class CloudifyError(SnapbotError):
    """The manager answered with an error (or could not be reached).

    `error_code` is the manager's own code (e.g. ``not_found_error``); subclasses are chosen
    by that code, not by the HTTP status alone. `manager` is the configured name of the manager
    that answered (or did not), `method` and `path` the request (never its query string).
    """

    error_code: str = ""

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None,
                 method: str = "", path: str = "", manager: str = "") -> None:
        self.status = status
        self.manager = manager
        if error_code is not None:
            self.error_code = error_code
        self.manager_message = message
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        code = f" [{self.error_code}]" if self.error_code else ""
        super().__init__(f"manager error{code}{where}: {message}")


class BadParameters(CloudifyError):
    error_code = "bad_parameters_error"


class Unauthorized(CloudifyError):
    error_code = "unauthorized_error"


class Forbidden(CloudifyError):
    error_code = "forbidden_error"


class NotFound(CloudifyError):
    error_code = "not_found_error"


class Conflict(CloudifyError):
    error_code = "conflict_error"


class IllegalAction(CloudifyError):
    error_code = "illegal_action_error"


class ExistingRunningExecution(CloudifyError):
    error_code = "existing_running_execution_error"


class MaintenanceActive(CloudifyError):
    error_code = "maintenance_mode_active"


class EnteringMaintenance(CloudifyError):
    error_code = "entering_maintenance_mode"


class ManagerUnavailable(CloudifyError):
    """Connection refused/reset/timed out, or a 502/503/504 without a Cloudify error code.

    Expected while a restore restarts the REST service: callers that follow a restore retry.
    """

    error_code = "manager_unavailable"


class ServerError(CloudifyError):
    """A 5xx with a body the manager produced (e.g. an internal error during restore)."""

    error_code = "internal_server_error"


#: Cloudify `error_code` -> exception class. Unknown codes fall back by status.
ERROR_CODES: dict[str, type[CloudifyError]] = {
    cls.error_code: cls
    for cls in (BadParameters, Unauthorized, Forbidden, NotFound, Conflict, IllegalAction,
                ExistingRunningExecution, MaintenanceActive, EnteringMaintenance, ServerError)
}


class StoreUnavailable(SnapbotError):
    """The database did not take a write (read-only, full, I/O error): jobs hold until it does."""


class StepFailed(SnapbotError):
    """A job step could not complete; the message says why, for the channel. `manager_message`
    is the manager's own error when the manager gave one (kept for the job's record)."""

    def __init__(self, message: str, *, manager_message: str = "") -> None:
        self.manager_message = manager_message
        super().__init__(message)


class WaitTimeout(StepFailed):
    """A job waited for the manager longer than the runbook allows."""
