"""Console tables of the bench's report, and the number format they share with the CLI's.

Imports nothing heavy at module level: the command line imports
:func:`format_or_dash` at start-up.
"""

from __future__ import annotations

__all__ = ["format_or_dash", "format_report"]


def format_or_dash(value, spec: str, scale: float = 1) -> str:
    """``value`` times ``scale`` formatted to ``spec``, or a dash for None.

    The dash is right-aligned to the width ``spec`` gives (its digits before
    any ``.``: 8 for ``">8.4g"``, 6 for ``"6d"``), so a column of numbers
    with gaps stays aligned; a ``spec`` without a width gives a bare dash.
    """
    if value is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "-".rjust(int(width)) if width else "-"
    return format(value * scale, spec)


def format_report(report: dict) -> str:
    """The report as fixed-width console tables.

    Parameters
    ----------
    report : dict
        From :func:`tvrestore.bench.denoise.run_bench`, with a ``command`` entry if it should be
        printed first.
    """
    from tvrestore.bench.denoise import METHOD_ADAM

    machine = report["machine"]
    settings = report["settings"]
    bandwidth = report["bandwidth"]
    lines = []
    if report.get("command"):
        lines += [f"$ {report['command']}", ""]
    lines += [
        f"machine: {machine['cpu']}, {machine['cpu_count']} logical CPUs "
        f"({machine['cpus_available']} available); {machine['platform']}",
        f"         Python {machine['python']}, TensorFlow {machine['tensorflow']}, "
        f"numpy {machine['numpy']}, scikit-image {machine['scikit_image']}, "
        f"tvrestore {machine['tvrestore']}",
        f"copy bandwidth: {bandwidth['copy_gb_per_s']:.1f} GB/s (read + write, "
        f"{bandwidth['array_mb']} MiB numpy copy, best of 5)",
        "",
        f"weight {settings['weight']:g}, isotropic {settings['color']} TV, noise seed "
        f"{settings['seed']}; gap = relative objective gap to the exact minimizer "
        f"(reference: certified {settings['reference_gap']:g});",
        f"seconds: median of {settings['repeat']} after a warm-up, solve only "
        f"(compile apart); x chamb = time / skimage chambolle's",
        "",
    ]
    header = (f"{'image':<10} {'size':>5} {'sigma':>5}  {'method':<28} {'PSNR':>6} {'SSIM':>6} "
              f"{'gap':>8} {'seconds':>8} {'x chamb':>7} {'compile':>7} {'iters':>6}")
    lines += [header, "-" * len(header)]
    for case in report["cases"]:
        for method in case["methods"]:
            lines.append(
                f"{case['image']:<10} {case['size']:>5} {case['sigma'] * 255:>5.3g}  "
                f"{method['method']:<28} {method['psnr']:>6.2f} "
                f"{format_or_dash(method['ssim'], '6.4f')} "
                f"{method['gap']:>8.1e} {method['seconds']:>8.4f} {method['time_ratio']:>7.2f} "
                f"{format_or_dash(method['compile_seconds'], '7.2f')} "
                f"{format_or_dash(method['iterations'], '6d')}"
            )
    lines += [
        "",
        f"Adam cost per iteration vs the memory floor ({bandwidth['adam_bytes_per_value']} B per "
        f"value: read u, f, m, v; write u, m, v; float32)",
    ]
    header = (f"{'image':<10} {'size':>5} {'sigma':>5}  {'iters':>6} {'ms/iter':>8} "
              f"{'floor ms':>8} {'ratio':>6}")
    lines += [header, "-" * len(header)]
    for case in report["cases"]:
        cost = case["adam_iteration_cost"]
        adam = next(m for m in case["methods"] if m["method"] == METHOD_ADAM)
        lines.append(
            f"{case['image']:<10} {case['size']:>5} {case['sigma'] * 255:>5.3g}  "
            f"{adam['iterations']:>6d} {cost['seconds_per_iteration'] * 1e3:>8.3f} "
            f"{cost['floor_seconds_per_iteration'] * 1e3:>8.3f} {cost['floor_ratio']:>6.2f}"
        )
    if report["sweep"]:
        lines += ["", *_format_sweep(report["sweep"])]
    if report["memory"]:
        lines += ["", *_format_memory(report["memory"])]
    return "\n".join(lines)


def _format_sweep(sweep: dict) -> list[str]:
    target = f"{sweep['plain_gap_target']:g}"
    lines = [
        f"Resolution sweep: {sweep['image']}, sigma {sweep['sigma']:g}/255, weight "
        f"{sweep['weight']:g}. Plain recipe: tf.keras.optimizers.Adam() defaults on the image,",
        f"loss as a sum or a naive mean, no rescaling, {sweep['plain_iter']} iterations; "
        f"'to {target}' = iterations until its gap was {target} ('-': never).",
        "",
    ]
    header = (f"{'size':>5}  {'exact':>6}  {'tvrestore':>9} {'gap':>8} {'iters':>5} {'ms/iter':>8} "
              f"{'floor x':>7}  {'sum PSNR':>8} {'gap':>8} {'to ' + target:>8}  "
              f"{'mean PSNR':>9} {'gap':>8} {'to ' + target:>8}")
    lines += [header, "-" * len(header)]
    for row in sweep["rows"]:
        adam, total, mean = row["tvrestore"], row["plain_sum"], row["plain_mean"]
        lines.append(
            f"{row['size']:>5}  {row['exact']['psnr']:>6.2f}  "
            f"{adam['psnr']:>9.2f} {adam['gap']:>8.1e} "
            f"{adam['iterations']:>5d} "
            f"{format_or_dash(adam.get('seconds_per_iteration'), '8.3f', 1e3)} "
            f"{format_or_dash(adam.get('floor_ratio'), '7.2f')}  "
            f"{total['psnr']:>8.2f} {total['gap']:>8.1e} "
            f"{format_or_dash(total['iterations_to_target'], '8d')}  "
            f"{mean['psnr']:>9.2f} {mean['gap']:>8.1e} "
            f"{format_or_dash(mean['iterations_to_target'], '8d')}"
        )
    return lines


def _format_memory(memory: dict) -> list[str]:
    size, reference = memory["size"], memory["reference_size"]
    return [
        f"Memory: {memory['image']} {size}x{size} grey in a fresh process: peak RSS "
        f"{memory['peak_rss_bytes'] / 1e9:.2f} GB "
        f"(of which {memory['baseline_rss_bytes'] / 1e9:.2f} GB "
        f"Python and TensorFlow, imported)",
        f"        solve {memory['seconds']:.2f} s, {memory['iterations']} iterations (+"
        f"{memory['compile_seconds']:.2f} s compile); at {reference}x{reference}: "
        f"{memory['reference_seconds']:.4f} s, {memory['reference_iterations']} iterations",
        f"        time per pixel {size} / {reference}: {memory['time_per_pixel_ratio']:.2f}x",
    ]
