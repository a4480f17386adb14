"""Do two checkouts restore alike? Every task, solver and colour mode, on the samples and seeded images.

Runs each checkout in its own process (``PYTHONPATH``), saves every output
as .npy, and compares them pixel by pixel (in units of the full range: 1/255
is one level of uint8) and in mean, with the weight and iterations each
chose. Denoising runs on the bundled ``*_noisy.png`` at w = 0.1 and on two
seeded images at the auto weight; deblurring (gaussian:1.2), inpainting, 2x
upscaling and deblur+inpaint on 48x48 crops of them at w = 0.01.

Usage::

    python benchmarks/measure_engine_agreement.py /work/main [OUTDIR]

Measured on the engine branch against main (2026-12-04): all 70 cases
bit-identical.
"""
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = []
def cases():
    from PIL import Image
    here = HERE
    images = {}
    for path in sorted(glob.glob(os.path.join(here, os.pardir, "samples", "*_noisy.png"))):
        images[os.path.basename(path)[:-10]] = np.asarray(Image.open(path))
    rng = np.random.default_rng(19)
    images["seeded_grey"] = np.clip(0.5 + 0.1 * rng.standard_normal((70, 90)), 0, 1).astype(np.float32)
    images["seeded_rgb"] = (np.clip(0.5 + 0.1 * rng.standard_normal((64, 48, 3)), 0, 1) * 255).astype(np.uint8)
    mask = np.zeros((48, 48), bool); mask[10:20, 5:30] = True; mask[30:33, :] = True
    out = []
    for name, image in images.items():
        for solver in ("adam", "pdhg"):
            colours = ("vectorial", "channelwise") if image.ndim == 3 else ("vectorial",)
            for color in colours:
                out.append((f"{name}-denoise-{solver}-{color}", "denoise", name, image, solver, color))
                crop = image[:48, :48]
                for task in ("deblur", "inpaint", "upscale", "deblur+inpaint"):
                    out.append((f"{name}-{task}-{solver}-{color}", task, name, crop, solver, color))
    return out, mask

def run(outdir):
    import tvrestore
    try:
        from tvrestore.api import restore
    except ImportError:  # a checkout from before the house (issue 19): tvrestore/restore.py
        from tvrestore.restore import restore
    os.makedirs(outdir, exist_ok=True)
    all_cases, mask = cases()
    times = {}
    for key, task, name, image, solver, color in all_cases:
        kwargs = dict(solver=solver, color=color, max_iter=None)
        start = time.perf_counter()
        if task == "denoise":
            weight = "auto" if name.startswith("seeded") else 0.1
            restored, result = tvrestore.denoise(image, weight, **kwargs)
        else:
            extra = {}
            if "deblur" in task: extra["psf"] = "gaussian:1.2"
            if "inpaint" in task: extra["mask"] = mask
            if task == "upscale": extra["upscale"] = 2
            restored, result = restore(image, weight=0.01, **extra, **kwargs)
        times[key] = time.perf_counter() - start
        np.save(os.path.join(outdir, key + ".npy"), np.asarray(restored))
        np.save(os.path.join(outdir, key + ".meta.npy"),
                np.array([result.weight, result.objective, result.iterations,
                          np.nan if result.certified_gap is None else result.certified_gap]))
        print(key, f"{times[key]:.2f}s", result.iterations, flush=True)

def compare(a, b):
    worst = []
    for path in sorted(glob.glob(os.path.join(a, "*.npy"))):
        if path.endswith(".meta.npy"): continue
        key = os.path.basename(path)[:-4]
        x, y = np.load(path), np.load(os.path.join(b, key + ".npy"))
        scale = 255.0 if x.dtype == np.uint8 else 1.0
        d = np.abs(x.astype(np.float64) - y.astype(np.float64)) / scale
        ma, mb = np.load(os.path.join(a, key + ".meta.npy")), np.load(os.path.join(b, key + ".meta.npy"))
        same = np.array_equal(x, y)
        print(f"{key:45s} bitwise={same!s:5s} max={d.max():.2e} mean={d.mean():.2e} "
              f"weight {ma[0]:.5g}/{mb[0]:.5g} iters {int(ma[2])}/{int(mb[2])}")
        worst.append((d.max(), d.mean()))
    worst = np.array(worst)
    print(f"over {len(worst)} cases: worst max {worst[:,0].max():.2e} (1/255 = {1/255:.2e}), worst mean {worst[:,1].max():.2e}")

def main(other: str, outdir: str) -> None:
    checkouts = {"this": os.path.dirname(HERE), "other": os.path.abspath(other)}
    for name, checkout in checkouts.items():
        env = {**os.environ, "PYTHONPATH": checkout}
        subprocess.run([sys.executable, __file__, "--run", os.path.join(outdir, name)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    compare(os.path.join(outdir, "other"), os.path.join(outdir, "this"))


if __name__ == "__main__":
    if sys.argv[1] == "--run":
        run(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp())
