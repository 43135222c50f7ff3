"""Uploads over 5 MB through the real file widget, with the production upload limits.

The server is conftest's `streamlit run app.py` in the project folder, so
`.streamlit/config.toml`'s `server.maxUploadSize` applies (scripts/app_server.py
sets no upload option). A run bundle of over 5 MB downloaded from the Runs page
imports back; a zip of over 5 MB of class folders imports on the Data page; on
Predict an image between 5 MB and the image limit is classified and one over the
limit is refused by the widget with a message naming the limit, never a 413.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_core.base.upload_limits import IMAGE_BYTES, IMAGE_MB, MB, ZIP_MB
from cnn_core.data.user.store import list_user_datasets
from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec
from cnn_core.store.runs import list_runs, load_run
from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser, writable_data_dir
from tests.run_factory import untrained_model_run

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

OLD_LIMIT = 5 * MB  # the server limit these uploads broke on
FILE_INPUT = '[data-testid="stFileUploader"] input[type="file"]'
SLOW_MS = 180_000  # TensorFlow's first import on a loaded 2-core machine
# 28x28x32 feature maps into 64 units: 1.6 M weights, a ~6.4 MB .keras file that
# random initial weights keep from compressing.
BIG_DENSE_CNN = ModelSpec(
    kind="cnn", conv_blocks=(ConvBlock(32, 3, pool=False),), dense_layers=(DenseLayer(64),)
)


@pytest.fixture(scope="module")
def own_data(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> Path:
    """The served data directory: the synthetic datasets plus room for imports."""
    return writable_data_dir(tmp_path_factory.mktemp("uploads_data"), synthetic_data_dir)


@pytest.fixture(scope="module")
def served_env(own_data: Path) -> dict[str, str]:
    return {"CNN_DATA_DIR": str(own_data)}


@pytest.fixture(scope="module")
def big_run(served_runs: Path) -> str:
    """A completed run in the served store whose bundle is over 5 MB."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_RUNS_DIR", str(served_runs))
        return untrained_model_run(BIG_DENSE_CNN, "big dense layer").name


def noise_png(side: int, seed: int) -> bytes:
    """An RGB PNG of random pixels, stored uncompressed: about 3 * side**2 bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def open_page(page: Page, server: StreamlitServer, path: str, heading: str) -> None:
    page.context.set_default_timeout(SLOW_MS)
    page.goto(f"{server.url}/{path}")
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    wait_until_idle(page, timeout_ms=SLOW_MS)


def no_upload_error(page: Page) -> None:
    expect(page.get_by_text(re.compile("AxiosError|status code 413"))).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_bundle_over_5_mb_downloads_and_imports_back(
    page: Page, server: StreamlitServer, served_runs: Path, big_run: str, tmp_path: Path
) -> None:
    open_page(page, server, f"runs?run={big_run}", "Runs")
    with page.expect_download() as download:
        page.get_by_role("button", name="Whole run (bundle .zip)").click()
    bundle = tmp_path / "big_bundle.zip"
    download.value.save_as(bundle)
    assert bundle.stat().st_size > OLD_LIMIT, bundle.stat().st_size
    before = {r.run_id for r in list_runs(served_runs)}
    page.locator(FILE_INPUT).set_input_files(bundle)
    import_button = page.get_by_role("button", name="Import", exact=True)
    expect(import_button).to_be_visible()  # shown once the upload reached the server
    import_button.click()
    expect(page.get_by_text("Imported as run")).to_be_visible()
    no_upload_error(page)
    (new_id,) = {r.run_id for r in list_runs(served_runs)} - before
    assert load_run(served_runs / new_id).config.name == "big dense layer"
    page.screenshot(path=str(tmp_path / "runs_bundle_import.png"), full_page=True)


def test_a_zip_over_5_mb_imports_on_my_images(
    page: Page, server: StreamlitServer, own_data: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "noise.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for offset, label in enumerate(("left", "right")):
            for index in range(36):  # 72 different images of ~75 KB: noise does not compress
                image = noise_png(160, seed=100 * offset + index)
                zipped.writestr(f"noise/train/{label}/{index}.png", image)
    assert archive.stat().st_size > OLD_LIMIT, archive.stat().st_size
    open_page(page, server, "data", "Data")
    page.get_by_text("My images: add a folder or zip").click()
    page.get_by_label("Dataset name").fill("big noise")
    page.get_by_label("Dataset name").press("Enter")
    wait_until_idle(page)
    page.get_by_text("Upload a zip", exact=True).click()
    wait_until_idle(page)
    expect(page.get_by_text(re.compile(rf"^{ZIP_MB} ?MB per file"))).to_be_visible()
    page.locator(FILE_INPUT).set_input_files(archive)
    expect(page.get_by_test_id("stFileChip")).to_be_visible()
    wait_until_idle(page)
    page.get_by_role("button", name="Check and save the images").click()
    expect(page.get_by_text("listed in every dataset picker")).to_be_visible()
    no_upload_error(page)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_DATA_DIR", str(own_data))
        saved = list(list_user_datasets().values())
    assert [(info.title, info.class_names) for info in saved] == [
        ("My images: big noise", ("left", "right"))
    ]
    page.screenshot(path=str(tmp_path / "data_zip_import.png"), full_page=True)


def test_predict_takes_a_big_image_and_refuses_one_over_the_limit(
    page: Page, server: StreamlitServer, tmp_path: Path
) -> None:
    open_page(page, server, "predict", "Predict")
    page.get_by_role("tab", name="Upload").click()
    expect(page.get_by_text(re.compile(rf"^{IMAGE_MB} ?MB per file"))).to_be_visible()
    big = noise_png(1500, seed=1)  # ~6.8 MB
    assert OLD_LIMIT < len(big) < IMAGE_BYTES
    chooser = page.locator(FILE_INPUT)
    chooser.set_input_files([{"name": "big.png", "mimeType": "image/png", "buffer": big}])
    expect(page.get_by_text("big.png as uploaded")).to_be_visible()
    no_upload_error(page)
    huge = noise_png(2700, seed=2)  # ~21.9 MB
    assert len(huge) > IMAGE_BYTES
    chooser.set_input_files([{"name": "huge.png", "mimeType": "image/png", "buffer": huge}])
    refused = re.compile(rf"File must be {IMAGE_MB}(\.0)? ?MB or smaller")
    page.get_by_test_id("stFileChip").filter(has_text="huge.png").hover()
    expect(page.get_by_text(refused)).to_be_visible()
    expect(page.get_by_text(f"up to {IMAGE_MB} MB each")).to_be_visible()  # the label says it
    no_upload_error(page)
    page.screenshot(path=str(tmp_path / "predict_too_big.png"), full_page=True)
