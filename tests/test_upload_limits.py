"""Upload limits: the real server config admits every upload the app offers, each
uploader states its own limit, and the app checks what the browser alone enforces.

Streamlit's server refuses an upload over `server.maxUploadSize` (HTTP 413) for every
widget; a widget's `max_upload_size` is checked only in the browser. The browser side
is in tests/test_browser_uploads.py.
"""

from __future__ import annotations

import io
import tomllib

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_core.base import upload_limits
from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import BUNDLE_MB, IMAGE_BYTES, IMAGE_MB, ZIP_MB
from cnn_core.data.images import decode_image
from cnn_core.schema.config import PRESETS
from scripts.app_server import StreamlitServer
from tests.apptest_support import assert_no_exception, open_app
from tests.conftest import REPO
from tests.run_factory import untrained_model_run

CONFIG = REPO / ".streamlit" / "config.toml"


def server_config() -> dict:
    return tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]


def uploaders(at: AppTest) -> dict[str, tuple[int, str]]:
    """{key: (the limit the browser is told, in MB; the help text)} of the page's uploaders."""
    return {w.key: (w.proto.max_upload_size_mb, w.help) for w in at.get("file_uploader")}


def big_png(size: int) -> bytes:
    """A real PNG of 32x32 noise, padded past its end to `size` bytes (decoders stop at IEND)."""
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data + b"\0" * (size - len(data))


def test_the_server_admits_the_largest_upload_the_app_offers() -> None:
    limit = server_config()["maxUploadSize"]
    advertised = {"image": IMAGE_MB, "zip": ZIP_MB, "bundle": BUNDLE_MB}
    below = {name: mb for name, mb in advertised.items() if limit < mb}
    assert not below, f".streamlit/config.toml maxUploadSize = {limit} is below {below}"
    assert limit >= upload_limits.SERVER_MB


def test_the_test_server_keeps_the_configs_upload_settings() -> None:
    """Browser tests and benchmarks see the production limits: no upload override."""
    for watcher in ("none", None):
        command = StreamlitServer("app.py", file_watcher=watcher).command()
        assert not any("Upload" in part or "MessageSize" in part for part in command), command
    assert "--server.fileWatcherType" not in StreamlitServer(file_watcher=None).command()


def test_users_get_no_file_watcher() -> None:
    assert server_config()["fileWatcherType"] == "none"  # bench_server_cpu.py: why


def test_runs_and_my_images_uploaders_state_their_limits() -> None:
    limit = server_config()["maxUploadSize"]
    found = uploaders(open_app("pages/runs.py"))
    at = open_app("pages/data.py")
    at.radio(key="data_mode").set_value("My images: add a folder or zip").run()
    for source in ("Upload a folder", "Upload a zip"):
        at.radio(key="myimg_source").set_value(source).run()
        assert_no_exception(at)
        found |= uploaders(at)
    expected = {"runs_import_file": BUNDLE_MB, "myimg_dir": IMAGE_MB, "myimg_zip": ZIP_MB}
    assert {key: mb for key, (mb, _) in found.items()} == expected
    for key, (mb, help_text) in found.items():
        assert mb <= limit, f"{key} offers {mb} MB, the server admits {limit} MB"
        assert f"Up to {mb} MB" in help_text, (key, help_text)


def test_image_uploaders_state_the_image_limit_and_refuse_bigger_files() -> None:
    """AppTest hands the file over as the browser would not: the app's own check speaks."""
    run = untrained_model_run(PRESETS["Softmax regression"], "limits").name
    oversized = ("huge.png", big_png(IMAGE_BYTES + 1), "image/png")
    at = open_app("pages/predict.py")
    at.selectbox(key="predict_run").select(run).run()
    at.file_uploader(key="predict_upload").set_value([oversized]).run()
    assert_no_exception(at)
    assert uploaders(at)["predict_upload"][0] == IMAGE_MB
    assert any(f"over the {IMAGE_MB} MB limit" in e.value for e in at.error), at.error
    at.switch_page("pages/inside.py").run()
    at.selectbox(key="inside_run").select(run).run()
    at.radio(key="inside_source").set_value("upload").run()
    at.file_uploader(key="inside_upload").set_value(oversized).run()
    assert_no_exception(at)
    (mb, help_text) = uploaders(at)["inside_upload"]
    assert mb == IMAGE_MB and f"Up to {IMAGE_MB} MB" in help_text
    assert any(f"over the {IMAGE_MB} MB limit" in e.value for e in at.error), at.error


def test_decode_image_refuses_a_file_over_the_image_limit() -> None:
    assert decode_image(big_png(IMAGE_BYTES)).size == (32, 32)  # at the limit: read
    with pytest.raises(UserError, match=f"huge.png: the file is 20.0 MB, over the {IMAGE_MB} MB"):
        decode_image(big_png(IMAGE_BYTES + 1), "huge.png")
