"""My images in a real browser: upload a small zip and a small folder, see the class chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.app_server import StreamlitServer
from scripts.browser import wait_until_idle
from tests.browser_support import skip_unless_browser, writable_data_dir
from tests.image_folder_support import folder_entries, shapes_folder, zip_bytes

pytestmark = pytest.mark.browser

skip_unless_browser()
from playwright.sync_api import Page, expect  # noqa: E402 - after the skip

CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'


@pytest.fixture(scope="module")
def own_data(tmp_path_factory: pytest.TempPathFactory, synthetic_data_dir: Path) -> Path:
    """The served app's data directory: the synthetic datasets plus room for imports."""
    return writable_data_dir(tmp_path_factory.mktemp("my_images_data"), synthetic_data_dir)


@pytest.fixture(scope="module")
def served_env(own_data: Path) -> dict[str, str]:
    return {"CNN_DATA_DIR": str(own_data)}


@pytest.fixture
def page(page: Page, server: StreamlitServer) -> Page:
    """conftest's fresh tab on the Data page, switched to the My images form."""
    page.context.set_default_timeout(60_000)
    page.goto(f"{server.url}/data")
    expect(page.get_by_role("heading", name="Data").first).to_be_visible()
    page.get_by_text("My images: add a folder or zip").click()
    expect(page.get_by_label("Dataset name")).to_be_visible()
    wait_until_idle(page)
    return page


def fill_form(page: Page, name: str, source: str) -> None:
    page.get_by_label("Dataset name").fill(name)
    page.get_by_label("Dataset name").press("Enter")
    wait_until_idle(page)
    page.get_by_text(source, exact=True).click()
    wait_until_idle(page)


def check_and_see_the_chart(page: Page, classes: int) -> None:
    page.get_by_role("button", name="Check and save the images").click()
    expect(page.get_by_text("listed in every dataset picker")).to_be_visible(timeout=90_000)
    chart = page.locator(CHART).first
    expect(chart).to_be_visible()
    bars = chart.evaluate("graph => graph.data[0].x")
    assert sorted(bars) == ["circle", "square", "triangle"][:classes], bars


def test_upload_a_small_zip(page: Page, tmp_path: Path) -> None:
    root = shapes_folder(tmp_path, per_class=14)
    archive = tmp_path / "shapes.zip"
    archive.write_bytes(zip_bytes(folder_entries(root)))
    fill_form(page, "zipped shapes", "Upload a zip")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(archive)
    wait_until_idle(page)
    check_and_see_the_chart(page, 3)


def test_upload_a_small_folder(page: Page, tmp_path: Path) -> None:
    root = shapes_folder(tmp_path, per_class=14)
    fill_form(page, "folder shapes", "Upload a folder")
    chooser = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    chooser.set_input_files(root)  # a directory: the input is a webkitdirectory one
    chips = page.locator('[data-testid="stFileChip"]')
    expect(chips).to_have_count(42, timeout=30_000)  # 3 classes x 14 files, all uploaded
    expect(page.locator('[data-testid="stFileChipIconSpinner"]')).to_have_count(0)
    wait_until_idle(page)
    check_and_see_the_chart(page, 3)
