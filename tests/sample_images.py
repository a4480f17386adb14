"""The tests' image size and layouts, and reading a file back without tvrestore.io.

Imported by name (``from sample_images import H, W``): pyproject.toml puts
tests/ on the path, so every test module finds it wherever it lives.
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

H, W = 24, 32

# Layout name -> channel axis (() means a plain (H, W) grey image).
LAYOUTS = {
    "grey": (),
    "grey1": (1,),
    "grey_alpha": (2,),
    "rgb": (3,),
    "rgba": (4,),
}


def read_back(path) -> np.ndarray:
    """Read an image file as stored, without tvrestore.io."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return tifffile.imread(path)
    return iio.imread(path)
