"""Batches of volumes: a folder of 2-D images, TIFF stacks and zarr volumes, in process and on Dask.

A volume in a batch is planned, restored and written as a single volume is
(the same bytes, the same metadata back), a bad one fails alone with one
line, and a local Dask cluster on 127.0.0.1 gives the in-process bytes.
Volumes are 6x24x24 so that each solve takes a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

import reference
from tvrestore.cli.app import main
from tvrestore.io.volumes import read_volume, read_volume_header
from tvrestore.runs.plan import plan_jobs

zarr = pytest.importorskip("zarr")

SHAPE = (6, 24, 24)
ARGS = ["--weight", "0.05", "--max-iter", "60", "-q"]


def imagej_stack(path: Path, seed: int = 0) -> Path:
    """A noisy ZYX uint16 ImageJ stack: Z step 2 µm, pixel 0.357 µm."""
    clean = reference.smooth_blobs(SHAPE, seed=seed)
    noisy = clean + 0.05 * np.random.default_rng(seed).standard_normal(SHAPE)
    tifffile.imwrite(path, (np.clip(noisy, 0, 1) * 65535).astype(np.uint16), imagej=True,
                     resolution=(1 / 0.357, 1 / 0.357),
                     metadata={"spacing": 2.0, "unit": "micron", "axes": "ZYX"})
    return path


def ome_zarr_stack(path: Path, seed: int = 1) -> Path:
    """A noisy ZYX uint8 OME-Zarr (NGFF 0.5): Z step 3 µm, pixel 0.5 µm."""
    clean = reference.smooth_blobs(SHAPE, seed=seed)
    noisy = clean + 0.05 * np.random.default_rng(seed).standard_normal(SHAPE)
    axes = [{"name": name, "type": "space", "unit": "micrometer"} for name in "zyx"]
    datasets = [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [3.0, 0.5, 0.5]}]}]
    group = zarr.open_group(str(path), mode="w-", zarr_format=3, attributes={
        "ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}})
    group.create_array("0", shape=SHAPE, dtype=np.uint8, chunks=(3, 12, 12),
                       dimension_names=list("zyx"))[...] = (np.clip(noisy, 0, 1) * 255).astype(
                           np.uint8)
    return path


@pytest.fixture
def folder(tmp_path, make_pair, write_image) -> Path:
    """in/: two grey PNGs, an ImageJ stack and an OME-Zarr in sub/."""
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for index in range(2):
        write_image(f"in/{index}.png", make_pair("uint8", "grey", seed=index)[1])
    imagej_stack(tmp_path / "in" / "stack.tif")
    ome_zarr_stack(tmp_path / "in" / "sub" / "cells.ome.zarr")
    return tmp_path / "in"


def _results(path: Path) -> dict[str, dict]:
    return {Path(entry["input"]).name: entry for entry in json.loads(path.read_text())["results"]}


def _outputs(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def test_the_plan_lists_a_zarr_store_as_one_volume_and_a_stack_as_a_volume(folder):
    jobs = {job.input.name: job for job in plan_jobs([folder], folder.parent / "out")}
    assert sorted(jobs) == ["0.png", "1.png", "cells.ome.zarr", "stack.tif"]
    assert {name: job.volume for name, job in jobs.items()} == {
        "0.png": False, "1.png": False, "cells.ome.zarr": True, "stack.tif": True}
    assert jobs["cells.ome.zarr"].output == folder.parent / "out" / "sub" / "cells.ome.zarr"


def test_without_an_output_directory_earlier_volume_outputs_are_not_inputs(folder):
    imagej_stack(folder / "stack_tv.tif")
    ome_zarr_stack(folder / "sub" / "cells.ome_tv.zarr")
    jobs = plan_jobs([folder])
    assert sorted(job.input.name for job in jobs) == ["0.png", "1.png", "cells.ome.zarr",
                                                      "stack.tif"]
    assert {job.output for job in jobs if job.volume} == {
        folder / "stack_tv.tif", folder / "sub" / "cells.ome_tv.zarr"}
    # A store named as an input is one input, not a directory to search.
    (named,) = plan_jobs([folder / "sub" / "cells.ome.zarr"], folder.parent / "out")
    assert named.volume and named.output == folder.parent / "out" / "cells.ome.zarr"


def test_a_retried_volume_task_restores_in_memory_and_leaves_the_written_output(folder, tmp_path):
    # What a Dask retry does after a lost worker had written the output.
    from tvrestore.options import RestoreOptions
    from tvrestore.runs.cluster import restore_group

    (job,) = plan_jobs([folder / "stack.tif"], tmp_path / "out")
    (tmp_path / "out").mkdir()
    job.output.write_bytes(b"written by the lost attempt")
    (entry,) = restore_group([job], RestoreOptions(weight=0.05, max_iter=60), 8)
    assert entry.status == "restored" and entry.output == str(job.output)
    assert entry.axes == "ZYX" and entry.spacing == pytest.approx((2.0, 0.357, 0.357), rel=1e-6)
    assert job.output.read_bytes() == b"written by the lost attempt"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["stack.tif"]


def test_a_mixed_folder_gives_every_output_with_its_metadata_back(runner, folder, tmp_path):
    out, report, gallery = tmp_path / "out", tmp_path / "run.json", tmp_path / "page.html"
    result = runner.invoke(main, [str(folder), "-o", str(out), *ARGS[:-1], "--report",
                                  str(report), "--gallery", str(gallery)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "axes ZYX, spacing 2 x 0.357 x 0.357" in result.stdout
    assert "axes ZYX, spacing 3 x 0.5 x 0.5" in result.stdout
    assert result.stdout.count("axes ") == 2  # the PNGs' lines name none
    page = gallery.read_text()
    assert "cells.ome.zarr" in page and "stack.tif" in page and "maximum along Z" in page
    entries = _results(report)
    assert {name: entry["status"] for name, entry in entries.items()} == dict.fromkeys(
        ["0.png", "1.png", "stack.tif", "cells.ome.zarr"], "restored")
    assert entries["0.png"]["axes"] is None and entries["0.png"]["shape"] == [24, 32]

    stack = read_volume_header(out / "stack.tif")
    assert (stack.format, stack.axes, stack.shape, stack.dtype) == ("ImageJ", "ZYX", SHAPE,
                                                                     np.uint16)
    assert stack.sizes == pytest.approx({"Z": 2.0, "Y": 0.357, "X": 0.357}, rel=1e-6)
    assert stack.units == {"Z": "µm", "Y": "µm", "X": "µm"}
    assert entries["stack.tif"]["axes"] == "ZYX"
    assert entries["stack.tif"]["spacing"] == pytest.approx([2.0, 0.357, 0.357], rel=1e-6)

    cells = read_volume_header(out / "sub" / "cells.ome.zarr")
    assert (cells.format, cells.axes, cells.shape, cells.dtype) == ("OME-Zarr", "ZYX", SHAPE,
                                                                     np.uint8)
    assert cells.sizes == {"Z": 3.0, "Y": 0.5, "X": 0.5}
    assert entries["cells.ome.zarr"]["spacing"] == pytest.approx([3.0, 0.5, 0.5])
    # Restored, not copied: TV smooths the noise along X.
    noisy, restored = (read_volume(path)[0].astype(float)
                       for path in (folder / "sub" / "cells.ome.zarr", out / "sub" / "cells.ome.zarr"))
    assert np.abs(np.diff(restored, axis=2)).mean() < 0.6 * np.abs(np.diff(noisy, axis=2)).mean()

    # Resume: every output is there, so every job is skipped, volumes too.
    again = runner.invoke(main, [str(folder), "-o", str(out), *ARGS, "--report", str(report)])
    assert again.exit_code == 0, again.output + again.stderr
    assert {entry["status"] for entry in _results(report).values()} == {"skipped"}


def test_a_batch_volume_is_the_single_file_result_byte_for_byte(runner, folder, tmp_path):
    batch = runner.invoke(main, [str(folder), "-o", str(tmp_path / "out"), *ARGS,
                                 "--glob", "*.tif"])
    assert batch.exit_code == 0, batch.output + batch.stderr
    alone = runner.invoke(main, [str(folder / "stack.tif"), "-o", str(tmp_path / "alone.tif"),
                                 *ARGS])
    assert alone.exit_code == 0, alone.output + alone.stderr
    assert (tmp_path / "out" / "stack.tif").read_bytes() == (tmp_path / "alone.tif").read_bytes()


def test_axes_and_spacing_apply_to_the_volumes_of_a_batch(runner, folder, tmp_path):
    report = tmp_path / "run.json"
    result = runner.invoke(main, [str(folder), "-o", str(tmp_path / "out"), *ARGS,
                                  "--spacing", "4,1,1", "--report", str(report)])
    assert result.exit_code == 0, result.output + result.stderr
    entries = _results(report)
    assert entries["stack.tif"]["spacing"] == entries["cells.ome.zarr"]["spacing"] == [4, 1, 1]
    assert entries["0.png"]["spacing"] is None
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    (pngs / "0.png").write_bytes((folder / "0.png").read_bytes())
    (pngs / "1.png").write_bytes((folder / "1.png").read_bytes())
    refused = runner.invoke(main, [str(pngs), "-o", str(tmp_path / "none"), *ARGS,
                                   "--axes", "ZYX"])
    assert refused.exit_code == 2 and "the batch has none" in refused.stderr


def test_bad_volumes_fail_alone_with_one_line_each(runner, folder, tmp_path):
    # A spacing of two steps for volumes of three spatial axes fails every
    # volume, each on its own line; then a corrupt zarr chunk behind a good
    # header fails alone.
    (folder / "sub" / "cells.ome.zarr" / "0" / "c" / "0" / "0" / "0").write_bytes(b"garbage")
    tifffile.imwrite(folder / "sub" / "flat.tif",
                     (reference.smooth_blobs((4, 16, 16)) * 255).astype(np.uint8),
                     photometric="minisblack")
    out, report = tmp_path / "out", tmp_path / "run.json"
    result = runner.invoke(main, [str(folder), "-o", str(out), *ARGS, "--report", str(report),
                                  "--spacing", "2,1"])
    assert result.exit_code == 1
    entries = _results(report)
    assert {name: entry["status"] for name, entry in entries.items()} == {
        "0.png": "restored", "1.png": "restored", "stack.tif": "failed",
        "cells.ome.zarr": "failed", "flat.tif": "failed"}
    for name in ("stack.tif", "cells.ome.zarr", "flat.tif"):
        error = entries[name]["error"]
        assert "\n" not in error and error.startswith(str(folder)) and name in error
        assert "need 3" in error
    assert result.stderr.count("Error:") == 3
    assert sorted(_outputs(out)) == ["0.png", "1.png"]

    # Without the bad spacing, the stacks are restored and the corrupt zarr fails alone.
    again = runner.invoke(main, [str(folder), "-o", str(out), *ARGS, "--report", str(report)])
    assert again.exit_code == 1
    entries = _results(report)
    assert entries["cells.ome.zarr"]["status"] == "failed"
    assert "corrupt zarr volume" in entries["cells.ome.zarr"]["error"]
    assert entries["stack.tif"]["status"] == entries["flat.tif"]["status"] == "restored"
    assert (entries["flat.tif"]["axes"], entries["flat.tif"]["spacing"]) == ("ZYX", None)
    assert entries["0.png"]["status"] == "skipped"
    assert not (out / "sub" / "cells.ome.zarr").exists()


@pytest.mark.cluster
def test_volumes_on_two_local_workers_are_the_in_process_bytes(runner, folder, tmp_path):
    pytest.importorskip("distributed")
    here = runner.invoke(main, [str(folder), "-o", str(tmp_path / "here"), *ARGS,
                                "--report", str(tmp_path / "here.json")])
    there = runner.invoke(main, [str(folder), "-o", str(tmp_path / "there"), *ARGS,
                                 "--workers", "2", "--report", str(tmp_path / "there.json")])
    assert here.exit_code == there.exit_code == 0, there.output + there.stderr
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")
    assert len(_outputs(tmp_path / "there")) > 4  # two PNGs, a TIFF, a zarr's files
    here_entries, there_entries = _results(tmp_path / "here.json"), _results(tmp_path / "there.json")
    for name in ("stack.tif", "cells.ome.zarr"):
        assert there_entries[name]["axes"] == "ZYX"
        assert there_entries[name]["spacing"] == here_entries[name]["spacing"]
        assert there_entries[name]["iterations"] == here_entries[name]["iterations"]
