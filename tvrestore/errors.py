"""The library's one error class, turned into a one-line message by the CLI;
:func:`require_extra`, its error for an optional dependency that is missing;
and :func:`printable`, which every message and report passes its text through."""

import importlib.util
from typing import Sequence


class TVRestoreError(ValueError):
    """A problem with the user's input: a file, an array or an option value.

    The message names the file (when there is one) and the problem, in one
    line, so that the command line can print it as it is.
    """


class TVRestoreWarning(UserWarning):
    """Input the library can work with but that may not mean what the user thinks.

    For example photon counts that are not whole numbers, or pixels below
    the offset (docs/noise.md). The command line prints it as one line.
    """


def require_extra(what: str, extra: str, packages: Sequence[str]) -> None:
    """Raise, naming the extra to install, if one of `packages` is missing; imports none of them.

    Called before any work, so that a run does not fail once its outputs
    are written (and then need --overwrite to run again).

    Parameters
    ----------
    what : str
        What needs them, e.g. ``--workers``.
    extra : str
        The extra of tvrestore that installs them, e.g. ``dask``.
    packages : sequence of str
        Their import names.

    Raises
    ------
    TVRestoreError
        ``--workers needs the dask extra (missing: distributed): pip install 'tvrestore[dask]'``
    """
    missing = [name for name in packages if not _installed(name)]
    if missing:
        raise TVRestoreError(f"{what} needs the {extra} extra (missing: {', '.join(missing)}): "
                             f"pip install 'tvrestore[{extra}]'")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # in sys.modules as None: known not importable
        return False


# Escapes Python's own string literals use, for the controls people recognise.
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# The lone surrogates os.fsdecode makes of the bytes of a file name that are
# not UTF-8 (PEP 383's "surrogateescape"): U+DC80 + the byte, for bytes >= 0x80.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def printable(text: str) -> str:
    """`text` with every character a terminal, log, CSV cell or UTF-8 file would misread escaped.

    A file name is text its owner chose: ``a\\nError: forged.png`` would
    print a forged error line, ``\\x1b[2J`` clear the terminal, and the
    byte ``\\xff`` of a name that is not UTF-8 (a lone surrogate once
    decoded) cannot be written as UTF-8 at all. Each character that
    :meth:`str.isprintable` rejects, except the space (controls, line and
    paragraph separators, bidirectional overrides and other format
    characters, unassigned code points, surrogates), is written as the
    escape a Python literal would use: ``\\n``, ``\\x1b``, ``\\u202e``;
    a byte of a non-UTF-8 name as itself, ``\\xff``. Everything else,
    accented letters and CJK included, is kept.

    Examples
    --------
    >>> printable("a\\nError: forged.png")
    'a\\\\nError: forged.png'
    >>> printable("bad\\udcff.png")
    'bad\\\\xff.png'
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
