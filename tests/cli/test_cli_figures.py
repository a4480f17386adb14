"""--figure, --zoom and --gallery on the command line: what they write, and every usage error.

The images are 24x32 (the shared fixtures), so the compiled programs are
those of the other CLI tests.
"""

import base64
import subprocess
import sys
import textwrap
from pathlib import Path

import imageio.v3 as iio
import pytest

from sample_images import H, W
from cli_helpers import assert_one_line_error, listing, load_report
from tvrestore.cli.app import main

pytest.importorskip("matplotlib")
html5lib = pytest.importorskip("html5lib")

from tvrestore.viz.figures import default_zoom_side, figure_layout  # noqa: E402

WEIGHT = "0.1"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def noisy_png(make_pair, write_image):
    clean, noisy = make_pair("uint8", "grey")
    write_image("clean.png", clean)
    return write_image("noisy.png", noisy)


def expected_size(panels, zoom_shape, differences, convergence=True):
    layout = figure_layout((H, W), zoom_shape, image_panels=panels,
                           difference_panels=differences, convergence=convergence)
    return layout.height_px, layout.width_px


def test_figure_with_reference_and_compare(runner, noisy_png, tmp_path):
    figure = tmp_path / "figure.png"
    result = runner.invoke(main, [
        str(noisy_png), "--weight", WEIGHT, "--reference", str(tmp_path / "clean.png"),
        "--compare", "--figure", str(figure), "--report", str(tmp_path / "run.json"),
    ])

    assert result.exit_code == 0, result.output
    pixels = iio.imread(figure)
    # Five columns: input, tvrestore, reference, skimage chambolle and bregman;
    # two difference maps and the convergence panel below.
    side = default_zoom_side((H, W))
    assert pixels.shape[:2] == expected_size(5, (side, side), 2)
    assert pixels[..., :3].std() > 20
    entry = load_report(tmp_path / "run.json")
    assert entry["history"][-1]["iteration"] == entry["iterations"]


def test_figure_zoom_and_formats(runner, noisy_png, tmp_path):
    png, svg = tmp_path / "zoomed.png", tmp_path / "figure.SVG"
    zoomed = runner.invoke(main, [str(noisy_png), "-o", str(tmp_path / "a.png"), "--weight",
                                  WEIGHT, "--figure", str(png), "--zoom", "4,2,16,8"])
    vector = runner.invoke(main, [str(noisy_png), "-o", str(tmp_path / "b.png"), "--weight",
                                  WEIGHT, "--figure", str(svg), "--solver", "pdhg"])

    assert zoomed.exit_code == 0, zoomed.output
    assert vector.exit_code == 0, vector.output
    # Input and result; one difference map; the zoom row is as tall as 8x16 is.
    assert iio.imread(png).shape[:2] == expected_size(2, (8, 16), 1)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "certified gap" in text  # pdhg's convergence panel


ZOOM_ERRORS = [
    (["--zoom", "1,2,3"], ["--zoom", "X,Y,W,H"]),
    (["--zoom", "a,b,c,d"], ["--zoom"]),
    (["--zoom", "0,0,0,4"], ["--zoom", "W, H >= 1"]),
    (["--zoom", "20,0,16,8"], ["--zoom", "noisy.png", f"{W}x{H}"]),
]


@pytest.mark.parametrize("zoom, words", ZOOM_ERRORS)
def test_bad_zoom_is_a_usage_error(runner, noisy_png, tmp_path, zoom, words):
    before = listing(tmp_path)
    result = runner.invoke(main, [str(noisy_png), "--figure", str(tmp_path / "f.png"), *zoom])

    assert_one_line_error(result, *words)
    assert listing(tmp_path) == before


def test_figure_path_errors(runner, noisy_png, tmp_path):
    clean = tmp_path / "clean.png"
    cases = [
        (["--figure", str(tmp_path / "f.jpg")], ["f.jpg", "unsupported figure type"]),
        (["--figure", str(tmp_path / "nowhere" / "f.png")], ["directory does not exist"]),
        (["--figure", str(noisy_png)], ["figure would replace the input"]),
        (["--reference", str(clean), "--figure", str(clean)],
         ["figure would replace the reference"]),
        (["-o", str(tmp_path / "o.png"), "--figure", str(tmp_path / "o.png")],
         ["figure would replace the output"]),
        (["--report", str(tmp_path / "r.png"), "--figure", str(tmp_path / "r.png")],
         ["r.png", "would replace the report"]),
        (["--zoom", "0,0,4,4"], ["--zoom", "--figure"]),
    ]
    before = listing(tmp_path)
    for arguments, words in cases:
        result = runner.invoke(main, [str(noisy_png), *arguments])
        assert_one_line_error(result, *words)
        assert listing(tmp_path) == before, arguments


def test_gallery_path_errors(runner, noisy_png, tmp_path):
    cases = [
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--figure", str(tmp_path / "f.png")],
         ["--figure", "--gallery"]),
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--gallery", str(tmp_path / "g.png")],
         ["g.png", "HTML"]),
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--gallery", str(tmp_path / "no" / "g.html")],
         ["gallery directory does not exist"]),
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.html"),
          "--gallery", str(tmp_path / "r.html")], ["r.html", "would replace the report"]),
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--gallery-assets", str(tmp_path / "a")],
         ["--gallery-assets", "give --gallery"]),
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--gallery", str(tmp_path / "g.html"),
          "--gallery-assets", str(noisy_png)], ["gallery assets must be a directory"]),
        ([str(tmp_path), "-o", str(tmp_path / "out"), "--gallery", str(tmp_path / "g.html"),
          "--gallery-assets", str(tmp_path / "no" / "a")], ["assets' directory does not exist"]),
    ]
    before = listing(tmp_path)
    for arguments, words in cases:
        result = runner.invoke(main, arguments)
        assert_one_line_error(result, *words)
        assert listing(tmp_path) == before, arguments


def test_gallery_named_like_an_input_is_refused(runner, noisy_png, tmp_path):
    # A file named on the command line is read whatever its extension.
    disguised = tmp_path / "page.html"
    disguised.write_bytes(noisy_png.read_bytes())
    result = runner.invoke(main, [str(noisy_png), str(disguised), "-o", str(tmp_path / "out"),
                                  "--gallery", str(disguised)])

    assert_one_line_error(result, "page.html", "gallery would replace the input")
    assert disguised.read_bytes() == noisy_png.read_bytes()


def test_batch_gallery_has_one_row_per_input(runner, make_pair, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed, name in enumerate(["a.png", "b.png"]):
        iio.imwrite(folder / name, make_pair("uint8", "grey", seed=seed)[1])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    gallery = tmp_path / "gallery.html"
    result = runner.invoke(main, [str(folder), "-o", str(tmp_path / "out"), "--weight", WEIGHT,
                                  "--gallery", str(gallery), "-q"])

    assert result.exit_code == 1, result.output  # the broken file failed, the others did not
    document = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
        gallery.read_text(encoding="utf-8"))
    rows = document.findall(".//table[@id='results']/tbody/tr")
    assert [row.get("class") for row in rows] == ["restored", "restored", "failed"]
    names = [row.findall("td")[1].text for row in rows]
    assert names == [str(folder / name) for name in ("a.png", "b.png", "broken.png")]
    for row in rows[:2]:
        sources = [image.get("src") for image in row.iter("img")]
        assert len(sources) == 2  # before and after, embedded
        for source in sources:
            header, data = source.split(",", 1)
            assert header == "data:image/jpeg;base64"  # photographic thumbnails: JPEG
            assert iio.imread(base64.b64decode(data)).shape == (H, W)
    if CHROMIUM.exists():
        from browser_helpers import chromium

        shot = tmp_path / "shot.png"
        chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,700", gallery.as_uri())
        assert iio.imread(shot)[..., :3].std() > 20


def test_gallery_assets_are_linked_png_files(runner, noisy_png, tmp_path):
    gallery = tmp_path / "one.html"
    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--gallery", str(gallery),
                                  "--gallery-assets", str(tmp_path / "views")])

    assert result.exit_code == 0, result.output
    views = sorted(path.name for path in (tmp_path / "views").iterdir())
    assert views == ["one-0001-input.png", "one-0001-result.png"]
    page = gallery.read_text(encoding="utf-8")
    assert 'src="views/one-0001-input.png"' in page and "data:image/png" not in page
    assert iio.imread(tmp_path / "views" / views[0]).shape == (H, W)


def test_single_file_gallery_is_one_row(runner, noisy_png, tmp_path):
    gallery = tmp_path / "one.html"
    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--gallery", str(gallery)])

    assert result.exit_code == 0, result.output
    document = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
        gallery.read_text(encoding="utf-8"))
    assert len(document.findall(".//table[@id='results']/tbody/tr")) == 1


def test_matplotlib_is_imported_only_for_a_figure(noisy_png, tmp_path):
    # Usage errors and a plain run leave matplotlib (and, for the errors,
    # TensorFlow) unloaded; --figure loads it.
    code = textwrap.dedent(f"""
        import sys
        from tvrestore.cli.app import main

        def run(*args):
            try:
                main([*args], prog_name="tvrestore")
            except SystemExit as exit:
                return exit.code

        assert run("--help") == 0
        assert run({str(noisy_png)!r}, "--figure", "f.gif") == 2
        assert run({str(noisy_png)!r}, "--figure", "f.png", "--zoom", "0,0,99,99") == 2
        assert "tensorflow" not in sys.modules and "matplotlib" not in sys.modules
        assert run({str(noisy_png)!r}, "--weight", "0.1", "-q", "-o", "plain.png") == 0
        assert "tensorflow" in sys.modules and "matplotlib" not in sys.modules, "plain run"
        assert run({str(noisy_png)!r}, "--weight", "0.1", "-q", "-o", "drawn.png",
                   "--figure", "f.png") == 0
        assert "matplotlib" in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.endswith("ok\n")
    assert (tmp_path / "f.png").is_file() and (tmp_path / "plain.png").is_file()


def test_help_describes_the_drawing_options(runner):
    result = runner.invoke(main, ["restore", "--help"])

    assert result.exit_code == 0, result.output
    for option in ("--figure", "--zoom X,Y,W,H", "--gallery FILE.html"):
        assert option in result.stdout, option


def test_the_run_says_where_the_figure_went(runner, noisy_png, tmp_path):
    figure = tmp_path / "said.pdf"
    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--figure", str(figure)])

    assert result.exit_code == 0, result.output
    assert f"figure: {figure}" in result.stdout
    assert figure.read_bytes().startswith(b"%PDF")
