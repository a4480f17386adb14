"""Images in and out: headers, decoders, pixels in unit range, atomic writes, names.

The public names of :mod:`tvrestore.io.images`, re-exported so that callers
write ``io.read_image``; :mod:`tvrestore.io.lazy` reads and writes TIFF and
zarr chunk by chunk.
"""

from tvrestore.io.images import (
    IMAGE_EXTENSIONS,
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    ImageHeader,
    check_writable,
    default_output_path,
    from_unit_range,
    join_alpha,
    list_images,
    read_header,
    read_image,
    read_image_and_header,
    remove_leftovers,
    remove_temporaries,
    split_alpha,
    to_unit_range,
    write_bytes,
    write_encoded,
    write_image,
    write_text,
)

__all__ = ['IMAGE_EXTENSIONS', 'MAX_DECODED_BYTES', 'MAX_PIXELS', 'ImageHeader', 'check_writable', 'default_output_path', 'from_unit_range', 'join_alpha', 'list_images', 'read_header', 'read_image', 'read_image_and_header', 'remove_leftovers', 'remove_temporaries', 'split_alpha', 'to_unit_range', 'write_bytes', 'write_encoded', 'write_image', 'write_text']
