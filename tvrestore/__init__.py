"""tvrestore: total-variation image restoration with Adam on a TensorFlow variable.

The public API is imported on first use, so that ``import tvrestore`` (and
``tvrestore --help``) does not pay for importing TensorFlow.
"""

from __future__ import annotations

import importlib

__all__ = ["RestoreResult", "TVRestoreError", "TVRestoreWarning", "denoise", "denoise_batch",
           "restore", "restore_array"]
__version__ = "0.1.0"

_LAZY = {
    "RestoreResult": "tvrestore.api",
    "denoise": "tvrestore.api",
    "denoise_batch": "tvrestore.api",
    "restore": "tvrestore.api",
    # Needs the dask extra; imports Dask only when called.
    "restore_array": "tvrestore.runs.tiles",
    "TVRestoreError": "tvrestore.errors",
    "TVRestoreWarning": "tvrestore.errors",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tvrestore' has no attribute {name!r}")
