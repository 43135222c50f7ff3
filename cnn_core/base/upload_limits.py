"""How large an upload may be, declared once for every uploader and the server.

Streamlit's server refuses any upload over `server.maxUploadSize` in
`.streamlit/config.toml` (HTTP 413, shown in the widget as "AxiosError: Request
failed with status code 413"), whatever a widget's own limit says; a widget's
`max_upload_size` is checked by the browser only. So:

- the config must admit the largest upload the app offers (`SERVER_MB`;
  tests/test_upload_limits.py reads the real config and checks it);
- each uploader passes its own limit to `st.file_uploader(max_upload_size=...)`
  and names it in its help text;
- the app checks what it receives itself: `cnn_core.data.images.decode_image` refuses
  an image over `IMAGE_BYTES`, `cnn_core.sharing.bundles` a bundle over `BUNDLE_MB`.

Sizes are in Streamlit's megabytes (MiB, 2**20 bytes), the unit of
`server.maxUploadSize` and `max_upload_size`.
"""

from __future__ import annotations

MB = 2**20  # Streamlit's "MB" (its limits are multiplied by 1024 * 1024)

IMAGE_MB = 20  # one image: Predict, Inside the CNN, each file of a My images folder upload
ZIP_MB = 200  # a My images zip of class folders (held in the server's memory whole)
BUNDLE_MB = 128  # a run bundle (`cnn_core.sharing.bundles`), read whole before it is checked

IMAGE_BYTES = IMAGE_MB * MB
SERVER_MB = max(IMAGE_MB, ZIP_MB, BUNDLE_MB)  # what `server.maxUploadSize` must admit


def megabytes(size: int) -> str:
    """A byte count in Streamlit's MB for messages: "5.3 MB"."""
    return f"{size / MB:.1f} MB"
