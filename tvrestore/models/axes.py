r"""Named axes of an image or volume, and the voxel spacing of its spatial axes.

An array's axes are named by letters, one per axis, in the array's order:

``T``  time (frames), ``Z`` planes, ``Y`` rows, ``X`` columns, ``C`` channels.

``Y`` and ``X`` are always there. Without names (:func:`default_axes`), a
2-D array is ``YX``; a 3-D array is ``YXC`` when its last axis holds at
most 4 values (grey, grey + alpha, RGB, RGBA, as for a 2-D image) and a
``ZYX`` stack otherwise; a 4-D array is ``ZYXC`` or ``TZYX`` by the same
rule, a 5-D one ``TZYXC``. ``axes=`` (``--axes``) overrides, as
``channel_axis`` does in scikit-image.

The solvers see the axes in the canonical order ``T Z Y X C``
(:meth:`Axes.to_canonical`). The *spatial* axes are those TV differentiates
along: ``Z``, ``Y`` and ``X``, and ``T`` too when it has a spacing; without
one, a time axis is a series of independent frames.

Spacing: one positive finite step per spatial axis, in the order of the
canonical axes (``(dz, dy, dx)``). TV divides each difference by its step
(:mod:`tvrestore.models.tv`) after the steps are divided by the smallest
(:func:`relative_spacing`), so that the finest axis has step 1 and a weight
means what it means for a 2-D image whatever the unit. No TensorFlow here:
the command line checks axes and spacing from a file's header before any
pixel is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tvrestore.errors import TVRestoreError

__all__ = ["AXIS_LETTERS", "Axes", "check_spacing", "check_volume_task", "default_axes", "parse_spacing",
           "relative_spacing"]

AXIS_LETTERS = "TZYXC"
# The most values a channel axis may hold (grey, grey + alpha, RGB, RGBA).
_MAX_CHANNELS = 4


@dataclass(frozen=True)
class Axes:
    """The axis letters of an array, in the array's order (e.g. ``"ZYX"``, ``"TYXC"``)."""

    letters: str

    @classmethod
    def parse(cls, text: str) -> "Axes":
        """``text`` (any case) checked: letters of ``TZYXC``, each once, with Y and X."""
        letters = str(text).strip().upper()
        unknown = sorted(set(letters) - set(AXIS_LETTERS))
        if unknown:
            raise TVRestoreError(
                f"axes {text!r}: unknown letter {unknown[0]!r} (use T, Z, Y, X and C)")
        if len(set(letters)) != len(letters):
            raise TVRestoreError(f"axes {text!r}: a letter appears twice")
        if "Y" not in letters or "X" not in letters:
            raise TVRestoreError(f"axes {text!r}: need both Y and X")
        return cls(letters)

    def check_fits(self, shape: tuple[int, ...]) -> None:
        """Refuse axes that do not name every axis of ``shape`` once, or a channel axis over 4."""
        if len(self.letters) != len(shape):
            raise TVRestoreError(
                f"axes {self.letters} name {len(self.letters)} axes, but the array has "
                f"{len(shape)}: shape {tuple(shape)}")
        if "C" in self.letters and not 1 <= shape[self.letters.index("C")] <= _MAX_CHANNELS:
            raise TVRestoreError(
                f"axes {self.letters}: the channel axis holds {shape[self.letters.index('C')]} "
                f"values; at most {_MAX_CHANNELS} (shape {tuple(shape)})")

    @property
    def canonical(self) -> str:
        """The same letters in the order ``T Z Y X C``."""
        return "".join(letter for letter in AXIS_LETTERS if letter in self.letters)

    @property
    def volume(self) -> bool:
        """Whether there is a Z or T axis: more than one 2-D image."""
        return "Z" in self.letters or "T" in self.letters

    def to_canonical(self) -> tuple[int, ...]:
        """The permutation (for ``np.transpose``) from the array's order to :attr:`canonical`."""
        return tuple(self.letters.index(letter) for letter in self.canonical)

    def from_canonical(self) -> tuple[int, ...]:
        """The permutation back from :attr:`canonical` to the array's order."""
        return tuple(self.canonical.index(letter) for letter in self.letters)

    def steps(self, spacing) -> tuple[bool, tuple[float, ...] | None]:
        """Whether a time axis is coupled, and ``spacing`` checked against these axes.

        A time axis is coupled when ``spacing`` has a step for it: as many
        steps as the axes T, Z, Y, X present. Else it takes one per Z, Y, X
        present, and the frames are independent.
        """
        if spacing is None:
            return False, None
        steps = check_spacing(spacing)
        with_time, without_time = len(self.spatial(True)), len(self.spatial(False))
        if "T" in self.letters and len(steps) == with_time:
            return True, steps
        if len(steps) == without_time:
            return False, steps
        coupled = f" (or {with_time}, {self.spatial(True)}, to couple the frames)" if (
            with_time != without_time) else ""
        raise TVRestoreError(
            f"spacing {_shown(steps)} has {len(steps)} steps; axes {self.letters} need "
            f"{without_time}, {self.spatial(False)}{coupled}")

    def spatial(self, time_coupled: bool) -> str:
        """The canonical letters TV differentiates along: Z, Y, X, and T if ``time_coupled``."""
        return "".join(letter for letter in "TZYX"
                       if letter in self.letters and (letter != "T" or time_coupled))


def default_axes(shape: tuple[int, ...]) -> Axes:
    """The axes of an array whose file or caller names none (see the module docstring)."""
    rank = len(shape)
    channels = rank >= 3 and shape[-1] <= _MAX_CHANNELS
    names = {2: "YX", 3: "YXC" if channels else "ZYX", 4: "ZYXC" if channels else "TZYX",
             5: "TZYXC"}
    if rank not in names:
        raise TVRestoreError(
            f"an array of shape {tuple(shape)} has {rank} axes; expected 2 to 5 "
            "(name them with axes=, e.g. 'ZYX')")
    return Axes(names[rank])


def parse_spacing(text: str, count: int | None = None) -> tuple[float, ...]:
    """``"Z,Y,X"`` (``--spacing``) as positive finite floats; ``count`` of them if given."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        steps = tuple(float(part) for part in parts)
    except ValueError:
        raise TVRestoreError(
            f"spacing {text!r} is not numbers separated by commas (e.g. 2.0,0.35,0.35)") from None
    return check_spacing(steps, count)


def check_spacing(spacing, count: int | None = None) -> tuple[float, ...]:
    """``spacing`` as a tuple of positive finite floats, ``count`` of them if given."""
    try:
        steps = tuple(float(step) for step in spacing)
    except (TypeError, ValueError):
        raise TVRestoreError(f"spacing must be a sequence of numbers, got {spacing!r}") from None
    if count is not None and len(steps) != count:
        raise TVRestoreError(
            f"spacing {_shown(steps)} has {len(steps)} steps; the spatial axes need {count}")
    bad = [step for step in steps if not (math.isfinite(step) and step > 0)]
    if bad:
        raise TVRestoreError(
            f"spacing {_shown(steps)}: every step must be positive and finite, got {bad[0]:g}")
    return steps


def relative_spacing(spacing: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """Steps divided by the smallest (the finest axis has step 1); None for equal steps.

    Equal steps are None, so that a 2-D image, or a volume of cubic voxels,
    is solved exactly as with no spacing at all.
    """
    if spacing is None:
        return None
    finest = min(spacing)
    steps = tuple(step / finest for step in spacing)
    return None if all(step == 1.0 for step in steps) else steps


def check_volume_task(named: Axes, spacing, *, noise: str = "gaussian", upscale: int = 1,
                      forward_model: bool = False) -> None:
    """Refuse, in one line, what a volume or time-lapse cannot take (checked before TensorFlow loads).

    Volumes take every noise model but no upscaling; a blur or a mask
    (``forward_model``) needs one volume, (Z, Y, X) or a time-lapse whose
    frames a spacing couples: 3 spatial axes in all. ``noise`` is checked
    with the options, not here.
    """
    if upscale != 1:
        raise TVRestoreError(
            f"upscaling takes 2-D images; axes {named.letters} name a volume or time-lapse")
    coupled, _ = named.steps(spacing)
    if forward_model and len(named.spatial(coupled)) != 3:
        raise TVRestoreError(
            f"a PSF or mask takes one volume (Z, Y, X), or a time-lapse whose frames a spacing "
            f"couples; axes {named.letters} name "
            f"{'a stack of volumes' if len(named.spatial(coupled)) > 3 else 'separate frames'}: "
            "restore them one by one")


def _shown(steps: tuple[float, ...]) -> str:
    return ",".join(f"{step:g}" for step in steps)
