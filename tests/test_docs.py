"""The README and the pages under docs/: links that resolve, a README that stays short.

Links are read as GitHub renders them: ``[text](target)`` and ``![alt](target)``
outside code (fenced blocks, indented blocks and inline code spans), and a
``#fragment`` must name a heading of its target by GitHub's slug rule.
"""

import re
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 150

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def prose_lines(text):
    """Yield the lines of Markdown `text` that are not code blocks.

    Fenced blocks (``` or ~~~) and indented blocks (four spaces after a
    blank line, outside a list item's continuation) hold commands, whose
    brackets are not links.
    """
    in_fence = False
    in_indented = False
    previous_blank = True
    in_list = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        blank = not line.strip()
        if re.match(r"^\s*([-*+]|\d+\.)\s", line):
            in_list = True
        elif not blank and not line.startswith(" "):
            in_list = False
        if line.startswith("    ") and (previous_blank or in_indented) and not in_list:
            in_indented = True
        elif not blank:
            in_indented = False
        if not in_indented:
            yield line
        previous_blank = blank


def github_slug(heading):
    """The anchor GitHub gives a heading: its text, lower case, punctuation dropped.

    Markup is rendered away first (code spans, links, emphasis); then every
    character that is not a letter, digit, underscore, hyphen or space goes,
    and each space becomes a hyphen.
    """
    text = CODE_SPAN.sub(lambda match: match.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*\*|__|\*)", "", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page):
    """Every heading anchor of `page`, repeated headings numbered as GitHub does."""
    seen = {}
    found = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page):
    """The target of every relative link in `page`, outside code."""
    links = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            target = match.group(1)
            if target and not urllib.parse.urlsplit(target).scheme:
                links.append(target)  # web and mail addresses are not checked here
    return links


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(page):
    broken = []
    for target in relative_links(page):
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / urllib.parse.unquote(path_part)).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading '{fragment}' in {resolved.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_has_at_most_150_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_every_docs_page_is_reached_from_the_readme_or_the_index():
    linked = set()
    for page in (README, ROOT / "docs" / "README.md"):
        for target in relative_links(page):
            path_part = target.partition("#")[0]
            if path_part:
                linked.add((page.parent / path_part).resolve())
    orphans = [page.name for page in PAGES[1:] if page.resolve() not in linked
               and page.name != "README.md"]
    assert not orphans, f"docs pages no index links to: {orphans}"


# A test named in the docs: tests/FILE.py::NAME, optionally [ID].
NAMED_TEST = re.compile(r"^(tests/[\w/]+\.py)::(test_\w+)((?:\[[^\]]+\])?)$")
BARE_TEST = re.compile(r"^(test_\w+)((?:\[[^\]]+\])?)$")
BARE_ID = re.compile(r"^\[([^\]]+)\]$")


def named_tests(text):
    """Every test `text` names in code spans, as (file, function, id or None).

    A bare ``test_name`` belongs to the file named last on its line, and a
    bare ``[id]`` to the test named last, as the guarantees table writes them.
    """
    named = []
    for line in text.splitlines():
        current_file = current_test = None
        for match in CODE_SPAN.finditer(line):
            span = match.group(2)
            full, bare, bare_id = NAMED_TEST.match(span), BARE_TEST.match(span), BARE_ID.match(span)
            if full:
                current_file, current_test = full.group(1), full.group(2)
                named.append((current_file, current_test, full.group(3)[1:-1] or None))
            elif bare and current_file:
                current_test = bare.group(1)
                named.append((current_file, current_test, bare.group(2)[1:-1] or None))
            elif bare_id and current_test:
                named.append((current_file, current_test, bare_id.group(1)))
    return named


def test_every_test_the_docs_name_exists():
    missing = []
    named = [entry for page in PAGES for entry in named_tests(page.read_text(encoding="utf-8"))]
    assert len(named) > 50  # the guarantees table names its tests in this form
    for file, function, case in named:
        path = ROOT / file
        source = path.read_text(encoding="utf-8") if path.exists() else ""
        if not re.search(rf"^def {function}\(", source, re.MULTILINE):
            missing.append(f"{file}::{function}")
        # A case's id is the name of the function that builds it (hostile cases)
        # or a key of the dict it is drawn from: either way a word in the file.
        elif case and not re.search(rf"(def {re.escape(case)}\(|[\"']{re.escape(case)}[\"'])",
                                    source):
            missing.append(f"{file}::{function}[{case}]")
    assert not missing, f"the docs name tests that do not exist: {missing}"


# Options the docs show that need an extra, run as if it were not installed: each
# must be one line naming the extra, exit 2, before any work (nothing written).
WITHOUT_EXTRA = {
    "--workers": (["IMAGES", "-o", "OUT", "--workers", "2"], "distributed", "dask"),
    "--tile": (["IMAGE", "--tile", "64", "-o", "OUT/a.tif"], "dask", "dask"),
    "--figure": (["IMAGE", "--weight", "0.1", "--max-iter", "20", "-o", "OUT/a.png",
                  "--figure", "OUT/figure.png"], "matplotlib", "figures"),
    "bench --plot": (["bench", "--images", "camera", "--size", "32", "--plot", "OUT"],
                     "matplotlib", "figures"),
}


@pytest.mark.parametrize("option", ["--workers", "--tile", "--figure", "bench --plot"])
def test_an_option_the_docs_show_without_its_extra_is_one_line_naming_it(tmp_path, option):
    import subprocess
    import sys

    import imageio.v3 as iio
    import numpy as np

    args, module, extra = WITHOUT_EXTRA[option]
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    iio.imwrite(tmp_path / "in" / "a.png", np.random.default_rng(0).integers(0, 256, (32, 32),
                                                                             dtype=np.uint8))
    places = {"IMAGES": tmp_path / "in", "IMAGE": tmp_path / "in" / "a.png", "OUT": tmp_path / "out"}
    argv = [str(places[arg]) if arg in places else arg for arg in args]
    argv = [str(tmp_path / "out" / arg[4:]) if arg.startswith("OUT/") else arg for arg in argv]
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # as if the {extra} extra were not installed\n"
        "from tvrestore.cli.app import main\n"
        f"sys.argv = ['tvrestore', *{argv!r}]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
    assert f"tvrestore[{extra}]" in done.stderr
    assert list((tmp_path / "out").iterdir()) == []
