"""Tests for tvrestore.viz.gallery: the batch's HTML page, parsed and opened in a browser."""

import base64
import html.parser
import importlib.util
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from browser_helpers import CHROMEDRIVER, CHROMIUM, chromium
import pytest

from tvrestore.errors import TVRestoreError
from tvrestore.runs.report import CompareRow, ReportEntry
from tvrestore.viz.gallery import (
    EMBEDDED_VIEWS_BYTES, check_gallery_path, natural_key, shrunk, write_gallery,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# The target: 500 images in at most 20 MB.
PAGE_BUDGET_BYTES, PAGE_BUDGET_IMAGES = 20_000_000, 500


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
        # One compiled call of batch_size 2 per pair of images: solve 2 s
        # for the first pair, 1 s for the second; compile and search shared.
        entries.append(ReportEntry(
            input=str(folder / name), output=str(folder / f"{stem}_tv{suffix}"),
            status="restored", weight=0.05 + 0.01 * number, iterations=100 + 50 * number,
            psnr=None if number == 3 else 25.0 + number, ssim=None if number == 3 else 0.8,
            solve_seconds=2.0 - number // 2, batch_size=2, read_seconds=0.1 * number,
            write_seconds=0.05, compile_seconds=3.0, weight_search_seconds=0.5,
            tensorflow_seconds=4.0, total_seconds=987.654,
        ))
    iio.imwrite(folder / "colour_clean.png", picture(64, 80, channels=3, seed=9))
    entries[1] = replace(entries[1], reference=str(folder / "colour_clean.png"), compare=(
        CompareRow(method="tvrestore (adam)", weight=0.06, psnr=26.0, ssim=0.8,
                   objective=1.0, seconds=0.5),
        CompareRow(method="skimage_chambolle", weight=0.06, psnr=25.5, ssim=0.79,
                   objective=1.1, seconds=0.25),
    ))
    (folder / "broken.png").write_bytes(b"not a png at all")
    # Natural order of the inputs (the rows' order): <script>, broken, colour, deep, grey, grey.
    entries.append(ReportEntry(input=str(folder / "broken.png"), status="failed",
                         error=f"{folder / 'broken.png'}: not a readable image <&> (cannot identify)"))
    entries.append(ReportEntry(input=str(folder / "grey.png"), output=str(folder / "grey_tv.png"),
                         status="skipped"))
    return entries


class _Page(html.parser.HTMLParser):
    """The table rows, images (thumbnails and enlarged views) and script count of a page."""

    def __init__(self):
        super().__init__()
        self.rows, self.thumbnails, self.enlarged, self.scripts, self.text = [], [], {}, 0, []
        self.template = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "id" in attrs:
            self.rows.append(attrs)
        elif tag == "template":
            self.template = attrs["id"]
        elif tag == "img" and self.template is None:
            self.thumbnails.append(attrs)
        elif tag == "img":
            self.enlarged.setdefault(self.template, []).append(attrs)
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag == "template":
            self.template = None

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def decoded(source, kind):
    """The pixels of a data URI of the given image type."""
    prefix = f"data:image/{kind};base64,"
    assert source.startswith(prefix), source[:40]
    data = base64.b64decode(source[len(prefix):], validate=True)
    assert data.startswith({"png": PNG_MAGIC, "jpeg": JPEG_MAGIC}[kind])
    return iio.imread(data)


def test_gallery_is_valid_html_with_one_row_per_entry(tmp_path, batch):
    html5lib = pytest.importorskip("html5lib")
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    # strict: any parse error (unclosed or misnested tags, bad entities) raises.
    document = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)
    body_rows = document.findall(".//table[@id='results']/tbody/tr")
    assert len(body_rows) == len(batch)
    assert [row.get("class") for row in body_rows] == [
        "restored", "failed", "restored", "restored", "restored", "skipped"]
    assert len(document.findall(".//script")) == 1


def test_thumbnails_are_embedded_jpegs_of_the_files(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", batch, thumbnail_size=64)
    page = parse(tmp_path / "gallery.html")
    # 4 restored pairs and the skipped one; the failed file's input is unreadable.
    assert [image["alt"].split(":")[0] for image in page.thumbnails] == ["before", "after"] * 5
    for image in page.thumbnails:
        pixels = decoded(image["src"], "jpeg")
        assert pixels.dtype == np.uint8
        assert 32 <= max(pixels.shape[:2]) <= 64
        assert (int(image["height"]), int(image["width"])) == pixels.shape[:2]
    # The 600x300 16-bit TIFF (row 4): block means of 10x10, on its own range.
    deep = decoded(page.thumbnails[4]["src"], "jpeg")
    assert deep.shape == (60, 30)
    assert deep.min() < 30 and deep.max() > 225
    colour = decoded(page.thumbnails[2]["src"], "jpeg")
    assert colour.shape[2] == 3


def test_enlarged_views_are_lossless_at_native_resolution_with_the_reference(tmp_path, batch):
    folder = Path(batch[0].input).parent
    # Longer than the cap (1024): shown as 2x2 block means.
    iio.imwrite(folder / "long.png", picture(1100, 60, seed=4))
    batch.append(ReportEntry(input=str(folder / "long.png"), output=str(folder / "long.png"),
                       status="skipped"))
    write_gallery(tmp_path / "gallery.html", batch)
    page = parse(tmp_path / "gallery.html")
    shapes = {view: [(image["alt"].split(":")[0], decoded(image["src"], "png").shape)
                     for image in images] for view, images in page.enlarged.items()}
    assert shapes["view-3"] == [("input", (64, 80, 3)), ("result", (64, 80, 3)),
                                ("reference", (64, 80, 3))]
    assert shapes["view-4"] == [("input", (600, 300)), ("result", (600, 300))]
    assert shapes["view-7"] == [("input", (550, 30)), ("result", (550, 30))]
    assert "view-2" not in shapes  # the failed row has nothing to enlarge
    colour = decoded(page.enlarged["view-3"][0]["src"], "png")
    assert np.array_equal(colour, iio.imread(batch[1].input))  # uint8: shown as it is
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    view = text.split('<template id="view-3">', 1)[1].split("</template>", 1)[0]
    assert "colour.png</h2>" in view
    assert "weight 0.06 · 150 iterations · PSNR 26.00 dB · SSIM 0.8000" in view
    assert "<td>skimage_chambolle</td><td>25.50</td><td>0.7900</td><td>0.25</td>" in view


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
    assert f"{batch[4].error}" in shown


def test_own_and_shared_times_are_shown_apart_and_add_up(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    # colour.png: read 0.1 + solve 2.0 / 2 + write 0.05 = 1.15 s; its call's
    # compile 3.0 + weight search 0.5, shared by 2 images.
    assert re.search(r'<td data-value="1.15[0-9]*" title="read 0.100 s, solve share 1.000 s, '
                     r'write 0.050 s" data-label="own s">1.15</td>', text)
    assert ('<td data-value="3.5" title="compile 3.000 s, weight search 0.500 s; shared by 2 '
            'image(s)" data-label="shared s">3.50</td>') in text
    own = [float(value) for value in re.findall(r'data-value="([0-9.]+)" title="read', text)]
    assert sorted(own) == pytest.approx([0.75, 0.85, 1.05, 1.15])
    # Two calls: compile 2 x 3.0, search 2 x 0.5; TensorFlow started once.
    assert ("Time: 3.80 s own (reading, solving, writing; the column adds up to it); shared: "
            "TensorFlow start-up 4.00 s, compile 6.00 s, weight search 1.00 s.") in text
    # total_seconds counts the shared costs in each of its images: not shown.
    assert "987.6" not in text


def test_summary_line_counts_and_mean_scores(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert "6 images: 4 restored, 1 skipped, 1 failed." in text
    assert "Mean PSNR 26.00 dB, SSIM 0.8000 over the 3 images with a reference." in text
    assert '<td data-value="25.0" data-label="PSNR (dB)">25.00</td>' in text
    assert '<td data-value="0.05" data-label="weight">0.05</td>' in text
    # --compare: the per-method means, and the row's methods in its cell.
    assert "<td>skimage_chambolle</td><td>1</td><td>25.50</td>" in text
    assert "tvrestore (adam) 26.00<br>skimage_chambolle 25.50</td>" in text


def test_a_page_without_compare_has_no_compare_column(tmp_path, batch):
    write_gallery(tmp_path / "gallery.html", [replace(item, compare=None) for item in batch])
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert "compared" not in text and 'class="compare"' not in text


def test_rows_are_in_natural_order_of_the_names():
    names = ["img10.png", "img2.png", "IMG3.png", "img1.png", "a/img2.png", "img02.png"]
    assert sorted(names, key=natural_key) == [
        "a/img2.png", "img1.png", "img02.png", "img2.png", "IMG3.png", "img10.png"]


def test_gallery_refuses_to_replace_an_input_or_output(tmp_path, batch):
    for target in (batch[0].input, batch[0].output, batch[1].reference):
        before = Path(target).read_bytes()
        with pytest.raises(TVRestoreError, match="would replace the image"):
            write_gallery(target, batch)
        assert Path(target).read_bytes() == before
    with pytest.raises(TVRestoreError, match="directory does not exist"):
        check_gallery_path(tmp_path / "missing" / "gallery.html", [])
    with pytest.raises(TVRestoreError, match="thumbnail_size"):
        write_gallery(tmp_path / "gallery.html", batch, thumbnail_size=0)


def test_assets_are_png_files_linked_from_the_page(tmp_path, batch):
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch, assets=tmp_path / "assets")
    text = gallery.read_text(encoding="utf-8")
    assert "data:image/png" not in text  # thumbnails embedded (JPEG), views linked
    page = parse(gallery)
    links = [image["src"] for images in page.enlarged.values() for image in images]
    assert [image["src"] for image in page.enlarged["view-3"]] == [
        "assets/gallery-0003-input.png", "assets/gallery-0003-result.png",
        "assets/gallery-0003-reference.png"]
    for link in links:
        assert iio.imread(tmp_path / link).dtype == np.uint8
    assert iio.imread(tmp_path / "assets/gallery-0004-input.png").shape == (600, 300)
    assert sorted(path.name for path in (tmp_path / "assets").iterdir()) == sorted(
        Path(link).name for link in links)  # no temporary left behind


def test_assets_that_would_replace_an_image_or_are_a_file_are_refused(tmp_path, batch):
    folder = Path(batch[0].input).parent
    clash = folder / "gallery-0001-input.png"
    iio.imwrite(clash, picture(8, 8))
    batch[0] = replace(batch[0], reference=str(clash))
    before = clash.read_bytes()
    with pytest.raises(TVRestoreError, match="gallery-0001-input.png: the gallery would replace"):
        write_gallery(tmp_path / "gallery.html", batch, assets=folder)
    assert clash.read_bytes() == before and not (tmp_path / "gallery.html").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(TVRestoreError, match="must be a directory"):
        write_gallery(tmp_path / "gallery.html", batch, assets=tmp_path / "file")
    with pytest.raises(TVRestoreError, match="directory does not exist"):
        write_gallery(tmp_path / "gallery.html", batch, assets=tmp_path / "no" / "assets")


def _measure_gallery():
    """benchmarks/measure_gallery.py as a module: its seeded photographic batch."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "measure_gallery.py"
    spec = importlib.util.spec_from_file_location("measure_gallery", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_page_size_per_image_keeps_500_images_within_20_mb(tmp_path):
    count = 20  # the 6 MB of views run out after 12 of these
    entries = _measure_gallery().photographic_batch(tmp_path, count, side=256)
    gallery = tmp_path / "index.html"
    write_gallery(gallery, entries)
    text = gallery.read_text(encoding="utf-8")
    embedded = sum(len(image.get("src", "")) for images in parse(gallery).enlarged.values()
                   for image in images)
    assert 0 < embedded <= EMBEDDED_VIEWS_BYTES
    # The budget ran out: later rows enlarge their thumbnails, and say so.
    assert "The enlarged views of" in text
    assert "input, 128x128 thumbnail of 256x256, uint8 0..255" in text
    # Past the budget a page grows by its rows only: 500 of them fit in what is left.
    per_image = (len(text.encode()) - embedded) / count
    assert per_image <= (PAGE_BUDGET_BYTES - EMBEDDED_VIEWS_BYTES) / PAGE_BUDGET_IMAGES
    write_gallery(gallery, entries, assets=tmp_path / "assets")
    assert gallery.stat().st_size / count <= PAGE_BUDGET_BYTES / PAGE_BUDGET_IMAGES


def test_a_restored_file_without_output_shows_why(tmp_path, batch):
    Path(batch[1].output).unlink()
    write_gallery(tmp_path / "gallery.html", batch)
    text = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert "after: no preview" in text and "file not found" in text


def test_shrunk_float_and_alpha_images():
    rgba = np.dstack([picture(50, 70, channels=3), np.zeros((50, 70), np.uint8)])
    assert shrunk(rgba, 35).shape == (25, 35, 3)  # alpha dropped, 2x2 blocks
    floats = picture(30, 30, dtype=np.float32) * 3 - 1
    pixels = shrunk(floats, 30)
    assert pixels.min() == 0 and pixels.max() == 255  # its own min..max


def test_gallery_renders_in_a_headless_browser(tmp_path, batch):
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch)
    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", gallery.as_uri())
    pixels = iio.imread(shot)[..., :3]
    assert pixels.shape[:2] == (900, 1200)
    assert pixels.std() > 20
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 256  # text and thumbnails, not one flat colour
    # The colour thumbnail's pixels (red and blue far apart) are on screen.
    red_blue = np.abs(pixels[..., 0].astype(int) - pixels[..., 2])
    assert (red_blue > 100).sum() > 500


def _clicked(tmp_path, gallery, script):
    """The DOM after `script` ran at the end of a copy of the page."""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(gallery.read_text(encoding="utf-8").replace(
        "</body>", f"<script>{script}</script></body>"), encoding="utf-8")
    return chromium(tmp_path, "--dump-dom", clicked.as_uri()).stdout.decode()


CLICK = """var buttons = document.querySelectorAll("#results th button");
function click(name) { Array.prototype.find.call(buttons, b => b.textContent === name).click(); }
function order() { return Array.prototype.map.call(
  document.querySelectorAll("#results tbody tr"), r => r.id).join(","); }
"""


def test_clicking_a_heading_sorts_the_rows_in_a_headless_browser(tmp_path, batch):
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch)
    # Click "PSNR" twice (descending), then "own s" once (ascending).
    dom = _clicked(tmp_path, gallery, CLICK + """click("PSNR (dB)"); click("PSNR (dB)");
document.body.dataset.psnr = order(); click("own s");""")
    psnr_order = dom.split('data-psnr="', 1)[1].split('"', 1)[0].split(",")
    # Rows: 1 <script> (no PSNR), 2 broken, 3 colour 26, 4 deep 27, 5 grey 25, 6 grey skipped.
    assert psnr_order[:3] == ["row-4", "row-3", "row-5"]
    assert set(psnr_order[3:]) == {"row-1", "row-2", "row-6"}
    seconds_order = [part.split('"', 1)[0] for part in dom.split('<tr id="')[1:]]
    # own: deep 0.75, <script> 0.85, grey 1.05, colour 1.15 (read + solve share + write)
    assert seconds_order[:4] == ["row-4", "row-1", "row-5", "row-3"]
    assert set(seconds_order[4:]) == {"row-2", "row-6"}
    assert dom.count('aria-sort="') == 1 and 'data-type="number" aria-sort="ascending">' in dom


def test_clicking_name_sorts_in_natural_order_in_a_headless_browser(tmp_path):
    names = ["img10.png", "img2.png", "b/img1.png", "IMG3.png", "img1.png"]
    entries = [ReportEntry(input=str(tmp_path / name), status="failed", error="not read")
               for name in names]
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, entries)
    shown = re.findall(r'<tr id="row-[0-9]+"[^>]*><td[^>]*>[0-9]+</td><td>([^<]*)</td>',
                       gallery.read_text(encoding="utf-8"))
    natural = ["b/img1.png", "img1.png", "img2.png", "IMG3.png", "img10.png"]
    assert [Path(name).relative_to(tmp_path).as_posix() for name in shown] == natural
    dom = _clicked(tmp_path, gallery, CLICK + """click("#"); click("#");
document.body.dataset.reversed = order(); click("name"); click("name"); click("name");""")
    reversed_order = dom.split('data-reversed="', 1)[1].split('"', 1)[0]
    assert reversed_order == "row-5,row-4,row-3,row-2,row-1"
    ascending = [part.split('"', 1)[0] for part in dom.split('<tr id="')[1:]]
    assert ascending == ["row-1", "row-2", "row-3", "row-4", "row-5"]


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium driven by Selenium; skipped (with the reason) without one."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} and {CHROMEDRIVER} are needed "
                    "(apt-get install chromium chromium-driver to run this test)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)),
                              options=options)
    yield driver
    driver.quit()


# Every thumbnail scrolled into view, and its box; the page's width.
THUMBNAIL_BOXES = """
return {width: document.documentElement.scrollWidth, boxes: Array.prototype.map.call(
  document.querySelectorAll("#results td.pair img"), function (image) {
    image.scrollIntoView({block: "center", inline: "nearest"});
    var box = image.getBoundingClientRect();
    return [box.left, box.top, box.right, box.bottom]; })};
"""


def wait_for_the_view(browser):
    """Until every image of the open view has decoded (a deadline, not a sleep)."""
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(browser, 20).until(lambda driver: driver.execute_script(
        "return Array.prototype.every.call(document.querySelectorAll('#enlarged .panels img'), "
        "function (image) { return image.complete && image.naturalWidth > 0; });"))


def inside(box, width, height):
    left, top, right, bottom = box
    return 0 <= left < right <= width and 0 <= top < bottom <= height


@pytest.mark.parametrize("width,height,mobile", [(390, 844, True), (1400, 900, False)])
def test_thumbnails_and_the_enlarged_view_fit_the_screen(tmp_path, batch, browser, width,
                                                         height, mobile):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    browser.get(gallery.as_uri())
    assert browser.execute_script("return [innerWidth, innerHeight]") == [width, height]
    measured = browser.execute_script(THUMBNAIL_BOXES)
    assert measured["width"] <= width  # nothing to scroll sideways
    assert len(measured["boxes"]) == 10
    for box in measured["boxes"]:
        assert inside(box, width, height), box
    browser.save_screenshot(str(tmp_path / f"table-{width}.png"))

    # Open colour.png's view from the middle of the page: in the viewport, focus inside.
    opener = browser.find_element(By.CSS_SELECTOR, 'button.open[data-view="view-3"]')
    browser.execute_script("window.scrollTo(0, 300); arguments[0].scrollIntoView("
                           "{block: 'center'});", opener)
    opener.click()
    wait_for_the_view(browser)
    view = browser.execute_script("""
var dialog = document.getElementById("enlarged"), box = dialog.getBoundingClientRect();
var close = dialog.querySelector("button.close").getBoundingClientRect();
return {open: dialog.open, box: [box.left, box.top, box.right, box.bottom],
  close: [close.left, close.top, close.right, close.bottom],
  focus: document.activeElement.className, title: dialog.querySelector("h2").textContent,
  images: Array.prototype.map.call(dialog.querySelectorAll(".panels img"), function (image) {
    var box = image.getBoundingClientRect();
    return {box: [box.left, box.top, box.right, box.bottom], natural: image.naturalWidth,
            rendering: getComputedStyle(image).imageRendering}; })};""")
    browser.save_screenshot(str(tmp_path / f"view-{width}.png"))
    assert view["open"] and view["focus"] == "close"
    assert view["box"] == [0, 0, width, height]
    assert inside(view["close"], width, height)
    assert view["title"].endswith("colour.png")
    assert [image["natural"] for image in view["images"]] == [80, 80, 80]  # native: 80x64
    for image in view["images"]:
        left, _, right, _ = image["box"]
        assert 0 <= left < right <= width
        zoom = (right - left) / image["natural"]
        assert zoom >= 1 and zoom == int(zoom)  # whole pixels, no smoothing
        assert image["rendering"] == "pixelated"

    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    closed = browser.execute_script(
        "return [document.getElementById('enlarged').open, document.activeElement.dataset.view]")
    assert closed == [False, "view-3"]  # closed, and the focus is back on the thumbnail
    opener.click()
    browser.find_element(By.CSS_SELECTOR, "#enlarged button.close").click()
    assert browser.execute_script(
        "return [document.getElementById('enlarged').open, document.activeElement.dataset.view]"
    ) == [False, "view-3"]
    screenshots = os.environ.get("TVRESTORE_SCREENSHOTS")
    if screenshots:  # to look at them: TVRESTORE_SCREENSHOTS=DIR pytest ...
        for shot in tmp_path.glob("*.png"):
            shutil.copy(shot, Path(screenshots) / shot.name)


def test_a_view_past_the_budget_shows_the_thumbnails_in_a_browser(tmp_path, batch, browser,
                                                                  monkeypatch):
    from selenium.webdriver.common.by import By

    monkeypatch.setattr("tvrestore.viz.gallery.EMBEDDED_VIEWS_BYTES", 1)
    gallery = tmp_path / "gallery.html"
    write_gallery(gallery, batch)
    assert "data:image/png" not in gallery.read_text(encoding="utf-8")
    browser.get(gallery.as_uri())
    browser.find_element(By.CSS_SELECTOR, 'button.open[data-view="view-3"]').click()
    wait_for_the_view(browser)
    shown = browser.execute_script("""
var thumbnails = document.querySelector('button.open[data-view="view-3"]').querySelectorAll("img");
return Array.prototype.map.call(document.querySelectorAll("#enlarged .panels img"),
  function (image, index) { return [image.src === thumbnails[index].src, image.naturalWidth]; });""")
    assert shown == [[True, 80], [True, 80]]  # colour.png's input and result, 80x64
