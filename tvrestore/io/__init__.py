"""Images in and out: headers and decoders, pixels in unit range, atomic files.

The public names of its modules, re-exported so that callers outside the
package may write ``io.read_image``; modules of tvrestore import from the
module itself:

- :mod:`tvrestore.io.images`: headers, decoders and writers;
- :mod:`tvrestore.io.pixels`: the unit range and the alpha channel;
- :mod:`tvrestore.io.files`: atomic writes, temporaries and their tidy-up;
- :mod:`tvrestore.io.lazy`: TIFF and zarr read and written chunk by chunk.

io imports nothing of tvrestore above it, nor TensorFlow, matplotlib or Dask.
"""

from tvrestore.io.files import remove_temporaries, write_bytes, write_encoded, write_text
from tvrestore.io.images import (
    IMAGE_EXTENSIONS,
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    ImageHeader,
    check_writable,
    read_header,
    read_image,
    read_image_and_header,
    write_image,
)
from tvrestore.io.pixels import from_unit_range, join_alpha, split_alpha, to_unit_range

__all__ = ['IMAGE_EXTENSIONS', 'MAX_DECODED_BYTES', 'MAX_PIXELS', 'ImageHeader', 'check_writable', 'from_unit_range', 'join_alpha', 'read_header', 'read_image', 'read_image_and_header', 'remove_temporaries', 'split_alpha', 'to_unit_range', 'write_bytes', 'write_encoded', 'write_image', 'write_text']
