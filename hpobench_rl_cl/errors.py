"""Errors a user can cause and fix. The command line prints each as one line and exits non-zero."""


class UserError(Exception):
    """Base class: bad input, refused operation. ``str(error)`` is the whole message."""


class ProtocolError(UserError):
    """A protocol file is malformed or inconsistent."""


class SealError(UserError):
    """An operation would look at sealed test seeds (or evaluation data) in a way the protocol forbids."""


class StoreError(UserError):
    """The result store refuses an operation (e.g. a study made from a different protocol)."""
