"""Errors the CLI turns into one line on stderr: :class:`UserError` exits 2, :class:`Failure` exits 1."""


class UserError(Exception):
    """Bad input from the person (a file, an argument, a value): exit status 2."""


class Failure(Exception):
    """Something failed that is not the person's fault: exit status 1."""
