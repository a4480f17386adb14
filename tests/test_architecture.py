"""The package's import rules, checked: import-linter's contracts, private names, the top level.

The contracts themselves live in pyproject.toml (``[tool.importlinter]``) and
are drawn in docs/architecture.md. import-linter has no contract for "no
module uses another module's private name", so :func:`private_name_uses`
checks that one here by reading every module's syntax tree.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tvrestore"

# Issue 19, target 2: everything else lives in a subpackage.
MAX_TOP_LEVEL_MODULES = 8


def _is_private(name: str) -> bool:
    """``_name`` is private; ``__name__`` (a dunder) and ``_`` alone are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and name != "_"


def _module_name(path: Path) -> str:
    """The dotted name of a file under the package root: tvrestore/io/__init__.py -> tvrestore.io."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    """Whether `dotted` names a module or package of this source tree (not a function or class)."""
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module an ``from ... import`` statement reads from, relative ones included."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def private_name_uses(path: Path, source: str | None = None) -> list[str]:
    """Every use in `path` of a private name of another tvrestore module.

    Two forms are caught: ``from tvrestore.x import _name`` (a private
    function, constant or module), and ``x._name`` where ``x`` was bound by
    an import to a tvrestore module (``from tvrestore import io``, ``import
    tvrestore.runs.plan as plan``). Dunder names are public.

    Parameters
    ----------
    path : Path
        A module of the package; its text is read unless `source` is given.
    source : str, optional
        The module's text, to check the checker on code of its own.

    Returns
    -------
    list of str
        ``"<file>:<line>: <module>.<name>"`` for each use, in line order.
    """
    if source is None:
        source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    importer = _module_name(path)
    is_package = path.name == "__init__.py"
    where = path.relative_to(ROOT)
    found: list[tuple[int, str]] = []
    # Local name -> the tvrestore module it was bound to by an import.
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, importer, is_package)
            if source.split(".")[0] != "tvrestore" or source == importer:
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append((node.lineno, f"{source}.{alias.name}"))
                elif _is_module(f"{source}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "tvrestore":
                    continue
                if any(_is_private(part) for part in alias.name.split(".")):
                    found.append((node.lineno, alias.name))
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound["tvrestore"] = "tvrestore"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        # Walk down a dotted chain (tvrestore.runs.plan._x) to the name it starts from.
        chain = [node.attr]
        value = node.value
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in bound:
            dotted = ".".join([bound[value.id], *reversed(chain[1:])])
            if dotted != importer:
                found.append((node.lineno, f"{dotted}.{node.attr}"))
    return [f"{where}:{line}: {name}" for line, name in sorted(found)]


def test_no_module_uses_another_modules_private_name():
    offenders = [use for path in sorted(PACKAGE.rglob("*.py")) for use in private_name_uses(path)]
    assert not offenders, "private names used across modules:\n" + "\n".join(offenders)


def test_private_name_check_catches_both_forms():
    """The checker itself: both forms (and relative imports) caught; dunders, attributes of
    classes and names of other packages not."""
    module = PACKAGE / "runs" / "batch.py"
    source = (
        "from tvrestore.runs.plan import _match_reference, FileJob\n"
        "from tvrestore import io\n"
        "import tvrestore.runs.plan as plan\n"
        "import os\n"
        "io._temporary_path\n"
        "plan.__name__\n"
        "plan._PSF_EXTENSIONS\n"
        "os._exit\n"
        "FileJob._fields\n"
        "from .claims import _lock_path\n"
    )
    assert private_name_uses(module, source) == [
        "tvrestore/runs/batch.py:1: tvrestore.runs.plan._match_reference",
        "tvrestore/runs/batch.py:5: tvrestore.io._temporary_path",
        "tvrestore/runs/batch.py:7: tvrestore.runs.plan._PSF_EXTENSIONS",
        "tvrestore/runs/batch.py:10: tvrestore.runs.claims._lock_path",
    ]


def test_import_contracts_hold():
    """``lint-imports`` with the contracts of pyproject.toml, on this source tree."""
    env = dict(os.environ)
    # Analyse this checkout, whichever tvrestore the environment has installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--no-cache", "--no-logo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    if completed.returncode != 0:
        pytest.fail("lint-imports found broken contracts:\n" + completed.stdout + completed.stderr,
                    pytrace=False)


def test_runs_draws_through_the_hook_with_restoration_figures_keywords(tmp_path, make_pair,
                                                                       write_image):
    """restore_file hands the drawing to its `draw` hook, in the keywords the CLI's partial fills.

    The CLI binds restoration_figure's path and zoom; every keyword the hook
    gets must be one of restoration_figure's, and its required ones given.
    """
    from tvrestore.options import RestoreOptions
    from tvrestore.runs.batch import restore_file
    from tvrestore.runs.plan import FileJob
    from tvrestore.viz.figures import restoration_figure

    clean, noisy = make_pair("uint8", "grey")
    job = FileJob(input=write_image("in.png", noisy), output=tmp_path / "out.png",
                  reference=write_image("clean.png", clean))
    calls = []
    entry = restore_file(job, RestoreOptions(weight=0.1, max_iter=20),
                         draw=lambda **keywords: calls.append(keywords))
    [drawn] = calls
    parameters = inspect.signature(restoration_figure).parameters
    required = {name for name, parameter in parameters.items()
                if parameter.default is inspect.Parameter.empty and name != "path"}
    assert required <= drawn.keys() <= parameters.keys() - {"path", "zoom"}
    assert drawn["psnr"] == entry.psnr and drawn["weight"] == entry.weight
    assert drawn["restored"].shape == noisy.shape and drawn["input_psnr"] is not None


def test_top_level_has_at_most_eight_modules():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
