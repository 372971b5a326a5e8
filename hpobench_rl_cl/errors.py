"""Errors a user can cause and fix. The command line prints each as one line and exits non-zero."""


def first_line(text: str | None) -> str:
    """The first line of an error text (a crashed trial's error carries its traceback below it)."""
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "no error recorded"


class UserError(Exception):
    """Base class: bad input, refused operation. ``str(error)`` is the whole message."""


class ProtocolError(UserError):
    """A protocol file is malformed or inconsistent."""


class SealError(UserError):
    """An operation would look at sealed test seeds (or evaluation data) in a way the protocol forbids."""


class StoreError(UserError):
    """The result store refuses an operation (e.g. a study made from a different protocol)."""


class BackendError(UserError):
    """A trainer backend broke its contract (e.g. returned the wrong number of results for a batch)."""
