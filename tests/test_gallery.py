"""Tests for tvrestore.gallery: the batch's HTML page, parsed and opened in a browser."""

import base64
import html.parser
import os
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from tvrestore.errors import TVRestoreError
from tvrestore.gallery import check_gallery_path, thumbnail_png, write_gallery

# The keys of tvrestore.batch.ENTRY_KEYS that the gallery reads (importing
# batch would import TensorFlow); the entries below carry all of them.
ENTRY_KEYS = ("input", "output", "reference", "status", "error", "shape", "dtype", "weight",
              "iterations", "converged", "objective", "solve_seconds", "total_seconds",
              "psnr", "ssim", "compare")
CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def entry(**values):
    made = dict.fromkeys(ENTRY_KEYS)
    made.update(values)
    return made


def picture(height, width, channels=None, dtype=np.uint8, seed=0):
    """Gradients and a bright square, with noise: something with content to thumbnail."""
    yy, xx = np.mgrid[:height, :width] / max(height, width)
    unit = 0.4 * xx + 0.3 * yy
    unit[height // 4 : height // 2, width // 4 : width // 2] = 0.9
    if channels:
        unit = np.stack([unit, 1 - unit, unit[::-1]][:channels], axis=-1)
    unit = np.clip(unit + 0.05 * np.random.default_rng(seed).standard_normal(unit.shape), 0, 1)
    return (unit * np.iinfo(dtype).max).round().astype(dtype) if dtype != np.float32 else unit.astype(dtype)


@pytest.fixture
def batch(tmp_path):
    """Entries of a batch with a grey, a colour, a 16-bit TIFF, a hostile name, a failure and a skip."""
    folder = tmp_path / "images"
    folder.mkdir()
    files = {
        "grey.png": picture(120, 90),
        "colour.png": picture(64, 80, channels=3, seed=1),
        "deep.tif": picture(600, 300, dtype=np.uint16, seed=2),
        "<script>.png": picture(40, 40, seed=3),
    }
    entries = []
    for number, (name, pixels) in enumerate(files.items()):
        stem, suffix = os.path.splitext(name)
        iio.imwrite(folder / name, pixels)
        iio.imwrite(folder / f"{stem}_tv{suffix}", pixels // 2 + pixels // 4)
        entries.append(entry(
            input=str(folder / name), output=str(folder / f"{stem}_tv{suffix}"),
            status="restored", weight=0.05 + 0.01 * number, iterations=100 + 50 * number,
            psnr=None if number == 3 else 25.0 + number, ssim=None if number == 3 else 0.8,
            total_seconds=1.5 - 0.25 * number, solve_seconds=1.0,
        ))
    (folder / "broken.png").write_bytes(b"not a png at all")
    entries.append(entry(input=str(folder / "broken.png"), status="failed",
                         error=f"{folder / 'broken.png'}: not a readable image <&> (cannot identify)"))
    entries.append(entry(input=str(folder / "grey.png"), output=str(folder / "grey_tv.png"),
                         status="skipped"))
    return entries


class _Page(html.parser.HTMLParser):
    """The table rows, image sources and script count of a page (stdlib parser)."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self.scripts, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "id" in attrs:
            self.rows.append(attrs)
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_gallery_is_valid_html_with_one_row_per_entry(tmp_path, batch):
    html5lib = pytest.importorskip("html5lib")
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    # strict: any parse error (unclosed or misnested tags, bad entities) raises.
    document = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)
    body_rows = document.findall(".//table[@id='results']/tbody/tr")
    assert len(body_rows) == len(batch)
    assert [row.get("class") for row in body_rows] == [e["status"] for e in batch]
    assert len(document.findall(".//script")) == 1


def test_thumbnails_are_embedded_pngs_of_the_files(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", batch, thumbnail_size=64)
    page = parse(tmp_path / "gallery.html")
    sources = [image["src"] for image in page.images]
    # 4 restored pairs, the failed file's input is unreadable, the skipped pair
    assert len(sources) == 2 * 4 + 2
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        data = base64.b64decode(source[len(prefix):], validate=True)
        assert data.startswith(PNG_MAGIC)
        pixels = iio.imread(data)
        assert pixels.dtype == np.uint8
        assert 32 <= max(pixels.shape[:2]) <= 64
    # The 600x300 16-bit TIFF: block means of 10x10, on its own range.
    deep = iio.imread(base64.b64decode(sources[4].split(",", 1)[1]))
    assert deep.shape == (60, 30)
    assert deep.min() < 30 and deep.max() > 225
    colour = iio.imread(base64.b64decode(sources[2].split(",", 1)[1]))
    assert colour.shape[2] == 3


def test_names_and_errors_are_escaped(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert "<script>.png" not in text
    assert "&lt;script&gt;.png" in text
    assert "<&>" not in text and "&lt;&amp;&gt;" in text
    page = parse(tmp_path / "gallery.html")
    assert page.scripts == 1
    shown = "".join(page.text)
    assert "<script>.png" in shown  # the unescaped name is what a reader sees
    assert f"{batch[4]['error']}" in shown


def test_rows_show_the_numbers_and_sort_keys(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert '<td data-value="25.0">25.00</td>' in text  # PSNR
    assert '<td data-value="0.05">0.05</td>' in text  # weight
    assert '<td data-value="150.0">150</td>' in text  # iterations
    assert 'title="solve 1.000 s">1.50</td>' in text  # seconds
    assert "4 restored, 1 skipped, 1 failed" in text


def test_gallery_refuses_to_replace_an_input_or_output(tmp_path, batch):
    for target in (batch[0]["input"], batch[0]["output"]):
        before = Path(target).read_bytes()
        with pytest.raises(TVRestoreError, match="would replace the image"):
            write_gallery(target, batch)
        assert Path(target).read_bytes() == before
    with pytest.raises(TVRestoreError, match="directory does not exist"):
        check_gallery_path(tmp_path / "missing" / "gallery.html", [])
    with pytest.raises(TVRestoreError, match="thumbnail_size"):
        write_gallery(tmp_path / "gallery.html", batch, thumbnail_size=0)


def test_a_restored_file_without_output_shows_why(tmp_path, batch):
    Path(batch[1]["output"]).unlink()
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert "after: no preview" in text and "file not found" in text


def test_thumbnail_of_float_and_alpha_images():
    rgba = np.dstack([picture(50, 70, channels=3), np.zeros((50, 70), np.uint8)])
    pixels = iio.imread(thumbnail_png(rgba, 35))
    assert pixels.shape == (25, 35, 3)  # alpha dropped, 2x2 blocks
    floats = picture(30, 30, dtype=np.float32) * 3 - 1
    pixels = iio.imread(thumbnail_png(floats, 30))
    assert pixels.min() == 0 and pixels.max() == 255  # its own min..max


def _chromium(tmp_path, *arguments):
    if not CHROMIUM.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} is not installed "
                    "(apt-get install chromium to run this test)")
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", *arguments]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def test_gallery_renders_in_a_headless_browser(tmp_path, batch):
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch)
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", gallery.as_uri())
    pixels = iio.imread(shot)[..., :3]
    assert pixels.shape[:2] == (900, 1200)
    assert pixels.std() > 20
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 256  # text and thumbnails, not one flat colour
    # The colour thumbnail's pixels (red and blue far apart) are on screen.
    red_blue = np.abs(pixels[..., 0].astype(int) - pixels[..., 2])
    assert (red_blue > 100).sum() > 500


def test_clicking_a_heading_sorts_the_rows_in_a_headless_browser(tmp_path, batch):
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch)
    # In a copy: click "PSNR" twice (descending), then "seconds" once (ascending).
    clicks = """<script>
var buttons = document.querySelectorAll("#results th button");
function click(name) { Array.prototype.find.call(buttons, b => b.textContent === name).click(); }
click("PSNR (dB)"); click("PSNR (dB)");
document.body.dataset.psnr = Array.prototype.map.call(
  document.querySelectorAll("#results tbody tr"), r => r.id).join(",");
click("seconds");
</script></body>"""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(gallery.read_text(encoding="utf-8").replace("</body>", clicks),
                       encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", clicked.as_uri()).stdout.decode()
    psnr_order = dom.split('data-psnr="', 1)[1].split('"', 1)[0].split(",")
    # PSNR 27, 26, 25; row 4 has none, nor do the failed and skipped rows: last.
    assert psnr_order[:3] == ["row-3", "row-2", "row-1"]
    assert set(psnr_order[3:]) == {"row-4", "row-5", "row-6"}
    seconds_order = [part.split('"', 1)[0] for part in dom.split('<tr id="')[1:]]
    assert seconds_order[:4] == ["row-4", "row-3", "row-2", "row-1"]  # 0.75, 1.0, 1.25, 1.5
    assert set(seconds_order[4:]) == {"row-5", "row-6"}
    assert dom.count('aria-sort="') == 1 and '<th data-type="number" aria-sort="ascending">' in dom

