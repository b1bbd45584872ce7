"""Errors that reach the user.

`DeepadError` carries a message that names the problem and the fix; the command line prints it
as one line on stderr and exits with code 2. Anything else is a bug.
"""


class DeepadError(Exception):
    """Bad input or an unusable environment, explained for the user."""

    exit_code = 2


class DataError(DeepadError):
    """A data set is missing, unreadable, or does not fit the request."""


class RunFailed(DeepadError):
    """Training produced no usable model (e.g. the loss became NaN). Recorded, never cached."""

    exit_code = 1
