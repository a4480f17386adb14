"""Property-based tests (Hypothesis) of the library API and the command line's options.

The API: whatever array (any NumPy dtype, shapes including zero-size
ones, NaN, infinities, values up to float64's largest) and whatever option values (every
NumPy scalar type, strings, None, bools, NaN) are passed to
:func:`tvrestore.denoise`, it either returns an image of the input's shape
and dtype with no NaN, or raises :class:`TVRestoreError` (a ValueError)
with a one-line message; never anything else, and never a RuntimeWarning.
Inputs within the documented contract always succeed.

The command line: any text given to ``--weight``, ``--tol``, ``--gap``,
``--max-iter`` or ``--batch-size`` is accepted exactly when the library's
own check accepts the number it spells, and a refusal is a usage error
(exit 2, one line, no traceback) before any work.

Shapes are few and tiny so that compiled programs are reused; example
counts are modest, so the module runs in seconds.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tvrestore import denoise
from tvrestore.cli.app import main
from tvrestore.errors import TVRestoreError
from tvrestore.options import (
    MAX_PIXEL_MAGNITUDE, check_max_iter, check_tolerance, check_weight,
)

SETTINGS = settings(deadline=None, max_examples=60, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# Few, tiny shapes: the valid ones share one or two compiled programs.
SHAPES = [(6, 8), (6, 8, 1), (6, 8, 2), (6, 8, 3), (6, 8, 4),  # valid
          (0, 8), (6, 0), (0, 0, 3), (6, 8, 0), (6, 8, 5), (8,), (), (2, 6, 8)]  # not
DTYPES = [np.bool_, np.uint8, np.uint16, np.float32, np.float64,  # supported
          np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64, np.float16,
          np.longdouble, np.complex64, np.complex128]
SUPPORTED = {np.dtype(t) for t in (np.bool_, np.uint8, np.uint16, np.float32, np.float64)}


FLOAT_TYPES = [float, np.float16, np.float32, np.float64, np.longdouble]
INTEGER_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64]


def mostly(valid, hostile):
    """Three draws in four from `valid`, so that whole calls within the contract are common."""
    return st.one_of(valid, valid, valid, hostile)


@st.composite
def valid_images(draw):
    shape = draw(st.sampled_from(SHAPES[:5]))
    dtype = np.dtype(draw(st.sampled_from(sorted(SUPPORTED, key=str))))
    if dtype == np.bool_:
        shape = shape[:2]
    if dtype.kind == "f":
        return draw(hnp.arrays(dtype, shape, elements=st.floats(-0.5, 1.5, width=32)))
    return draw(hnp.arrays(dtype, shape))


@st.composite
def hostile_images(draw):
    shape = draw(st.sampled_from(SHAPES))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.kind == "f" and dtype != np.longdouble:
        width = min(64, dtype.itemsize * 8)
        return draw(hnp.arrays(dtype, shape, elements=st.floats(width=width)))
    if dtype.kind == "c" or dtype == np.longdouble:
        return np.zeros(shape, dtype) + 0.5
    return draw(hnp.arrays(dtype, shape))


def scalar_of(types, values):
    """A value from `values`, as one of the scalar `types` (as it is, if it cannot be)."""
    def convert(pair):
        kind, value = pair
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return kind(value)
        except (ValueError, OverflowError, TypeError):
            return value
    return st.tuples(st.sampled_from(types), st.sampled_from(values)).map(convert)


WEIGHTS = mostly(
    st.one_of(scalar_of(FLOAT_TYPES + INTEGER_TYPES, [0.0, 0.05, 0.1, 1.0, 3.0]), st.just("auto")),
    st.one_of(scalar_of(FLOAT_TYPES, [2e6, 1e300, -0.1, math.nan, math.inf, -math.inf]),
              st.sampled_from(["AUTO", "", "0.1", None, True, np.bool_(True), [0.1],
                               np.array([0.1, 0.2]), 0.1 + 0j])),
)
MAX_ITERS = mostly(
    st.one_of(scalar_of(INTEGER_TYPES, [0, 1, 3]), st.none()),
    st.one_of(scalar_of(INTEGER_TYPES, [-1, 2**31, 2**63]),
              st.sampled_from([True, "3", 2.5, np.float64(3.0)])),
)
TOLERANCES = mostly(
    scalar_of(FLOAT_TYPES, [3e-4, 1e-3, 0.5]),
    st.one_of(scalar_of(FLOAT_TYPES, [0.0, 1.0, -1e-3, math.nan, math.inf, 1e-50]),
              st.sampled_from(["1e-3", None, True, 0])),
)


def contract_holds(image, weight, max_iter, tol, solver) -> bool:
    """Whether the documented contract of denoise is met, so that it must succeed."""
    if not isinstance(image, np.ndarray) or image.dtype not in SUPPORTED:
        return False
    # (H, W), (H, W, C) with C in 1..4, or a plain 3-D array with more than
    # four values on its last axis: a Z stack (Z, Y, X).
    if image.ndim not in (2, 3):
        return False
    if 0 in image.shape:
        return False
    if image.dtype.kind == "f" and not (np.isfinite(image).all()
                                        and np.abs(image).max() <= MAX_PIXEL_MAGNITUDE):
        return False
    try:
        check_weight(weight)
        check_max_iter(max_iter)
        check_tolerance("tol", tol)
    except TVRestoreError:
        return False
    return solver in ("adam", "pdhg")


@settings(SETTINGS, max_examples=120)
@given(image=mostly(valid_images(), st.one_of(hostile_images(), st.just([[0.5, 0.5]]))),
       weight=WEIGHTS, max_iter=MAX_ITERS, tol=TOLERANCES,
       solver=mostly(st.just("adam"), st.sampled_from(["pdhg", "newton", None])))
def test_denoise_returns_a_clean_image_or_one_clear_error(image, weight, max_iter, tol, solver):
    # Few iterations: the property is about what comes in and out, not convergence.
    if isinstance(max_iter, (int, np.integer)) and not isinstance(max_iter, bool) \
            and 50 < max_iter <= 2**31 - 1:
        max_iter = 50
    if max_iter is None:
        max_iter = 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            restored, result = denoise(image, weight, max_iter=max_iter, tol=tol, solver=solver)
        except TVRestoreError as err:
            message = str(err)
            assert message and "\n" not in message, repr(message)
            assert not contract_holds(image, weight, max_iter, tol, solver), message
            event("refused")
            return
    assert contract_holds(image, weight, max_iter, tol, solver)
    event(f"restored {image.dtype}")
    assert restored.shape == image.shape and restored.dtype == image.dtype
    if restored.dtype.kind == "f":
        assert np.isfinite(restored).all()
    assert math.isfinite(result.weight) and result.iterations <= max_iter


# --- the command line's option parser ---------------------------------------------------

NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["auto", "nan", "-inf", "Infinity", " 0.1", "1_0", "0x10", "1e-50",
                     "3e-4", "1e6", "1e7", "", "0", "1", "1.0", "-0", "+5", "five"]),
    st.text(max_size=6),
)


def accepts(option: str, text: str) -> bool:
    """Whether the library's check accepts the value `text` spells (Click's own parsing)."""
    try:
        if option == "--weight":
            return text == "auto" or check_weight(float(text)) is not None
        if option in ("--tol", "--gap"):
            check_tolerance(option, float(text))
        elif option == "--max-iter":
            check_max_iter(int(text))
        else:  # --batch-size
            return int(text) >= 1
    except (ValueError, OverflowError):
        return False
    return True


@pytest.fixture(scope="module")
def empty_input(tmp_path_factory):
    """A directory with no image: a run with valid options stops at "no image files"."""
    return tmp_path_factory.mktemp("no-images")


@SETTINGS
@given(option=st.sampled_from(["--weight", "--tol", "--gap", "--max-iter", "--batch-size"]),
       text=NUMBER_TEXT)
def test_option_values_are_accepted_exactly_when_the_library_accepts_them(
        runner, empty_input, option, text):
    out = empty_input.parent / "out-never-created"
    result = runner.invoke(main, [str(empty_input), "-o", str(out), f"{option}={text}"])

    assert result.exit_code == 2, (result.stdout, result.stderr, repr(result.exception))
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    if accepts(option, text):
        event("accepted")
        assert "no image files" in result.stderr, result.stderr
    else:
        assert option in result.stderr, result.stderr


# --- every scalar type and hostile value, exhaustively (the draws above sample them) ----

IMAGE = np.random.default_rng(3).random((6, 8)).astype(np.float32)
HOSTILE = {
    "weight": [2e6, 1e300, -0.1, math.nan, math.inf, -math.inf],
    "max_iter": [-1, 2**31, 2**63, 2**80],
    "tol": [0.0, 1.0, -1e-3, math.nan, math.inf, 1e-50],
    "gap": [0.0, 1.0, math.nan, -math.inf],
}


@pytest.mark.parametrize("name", HOSTILE)
def test_every_hostile_option_value_in_every_scalar_type_is_one_clear_error(name):
    types = INTEGER_TYPES if name == "max_iter" else FLOAT_TYPES + INTEGER_TYPES
    for value in HOSTILE[name]:
        for kind in types:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scalar = kind(value)
            except (ValueError, OverflowError):
                continue  # this type cannot hold the value
            if not (float(scalar) == value or math.isnan(value) and math.isnan(float(scalar))):
                continue  # nor this one: int(-0.1) is 0, a good value
            kwargs = {"weight": 0.1, name: scalar}
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                with pytest.raises(TVRestoreError, match=name) as raised:
                    denoise(IMAGE, **kwargs)
            assert "\n" not in str(raised.value)


@pytest.mark.parametrize("kind", FLOAT_TYPES + INTEGER_TYPES, ids=lambda kind: kind.__name__)
def test_every_numpy_scalar_type_is_taken_as_its_value(kind):
    weight = 0 if kind in INTEGER_TYPES else 0.1
    expected, _ = denoise(IMAGE, float(kind(weight)), max_iter=5)
    restored, result = denoise(IMAGE, kind(weight), max_iter=np.int16(5),
                               tol=np.float32(3e-4), gap=np.float64(1e-4))
    assert result.weight == pytest.approx(float(kind(weight)))
    np.testing.assert_array_equal(restored, expected)
