"""The library's one error class, turned into a one-line message by the CLI."""


class TVRestoreError(ValueError):
    """A problem with the user's input: a file, an array or an option value.

    The message names the file (when there is one) and the problem, in one
    line, so that the command line can print it as it is.
    """
