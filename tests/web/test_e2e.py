"""The page in real headless Chromium (selenium + Debian's chromium/chromedriver): fill the form, solve, check the
plot, table and best figures against the CLI's --json, download the bundle, and see a bad spec's CLI message."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")
pytest.importorskip("uvicorn")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

from web_helpers import cli_error, cli_json, page_wording  # noqa: E402

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
pytestmark = pytest.mark.skipif(
    not (BROWSER and DRIVER),
    reason="needs chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)",
)
FORM = {"total_gpus": "32", "isl": "4000", "osl": "500", "ttft_ms": "300", "tpot_ms": "10"}
SELECTS = {
    "model": "Qwen/Qwen3-32B",
    "system": "h200_sxm",
    "backend": "trtllm",
    "q_gemm": "fp8_block",
    "q_kv_cache": "fp8",
}


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads, live_url):
    opts = webdriver.ChromeOptions()
    opts.binary_location = BROWSER
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--lang=en-US",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    service_ = webdriver.ChromeService(executable_path=DRIVER)
    driver = webdriver.Chrome(options=opts, service=service_)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(live_url)
        WebDriverWait(driver, 20).until(lambda d: len(Select(d.find_element(By.ID, "model")).options) > 1)
        yield driver
    finally:
        driver.quit()


def _wait_done(driver, timeout: float = 120) -> None:
    WebDriverWait(driver, timeout).until(
        lambda d: (
            d.find_element(By.ID, "run").is_enabled() and not d.find_element(By.ID, "status").text.startswith("solving")
        )
    )


def _fit_window(driver) -> None:
    driver.set_window_size(1280, 900)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, height + 140))  # + the window's frame: the whole page in view
    driver.execute_script("window.scrollTo(0, 0)")


def _screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def test_form_solve_plot_table_download(browser, downloads):
    d = browser
    for sid, value in SELECTS.items():
        Select(d.find_element(By.ID, sid)).select_by_value(value)
    for iid, value in FORM.items():
        box = d.find_element(By.ID, iid)
        box.clear()
        box.send_keys(value)
    d.find_element(By.ID, "run").click()
    _wait_done(d)
    assert not d.find_element(By.ID, "error").is_displayed(), d.find_element(By.ID, "error").text
    ref = cli_json()
    for mode in ("agg", "disagg"):
        shown = d.find_element(By.ID, f"best-{mode}").get_attribute("data-tokens-per-s-per-gpu")
        want = ref["best"][mode]
        assert (float(shown) if shown else None) == (want and want["tokens_per_s_per_gpu_given"]), mode
    points = d.find_elements(By.CSS_SELECTOR, "#plot svg circle.point")
    assert points and len(points) == len(ref["pareto"]["agg"]) + len(ref["pareto"]["disagg"])
    assert d.find_elements(By.CSS_SELECTOR, "#plot svg rect.sla-region")
    rows = d.find_elements(By.CSS_SELECTOR, "#top tbody tr")
    assert len(rows) == len(ref["top"]["agg"]) + len(ref["top"]["disagg"])
    first = (ref["top"]["agg"] or ref["top"]["disagg"])[0]  # the table lists agg, then disagg
    assert float(rows[0].get_attribute("data-tokens-per-s-per-gpu")) == first["tokens_per_s_per_gpu_given"]
    _download(d, downloads)
    _fit_window(d)
    ActionChains(d).move_to_element(points[0]).perform()
    tip = d.find_element(By.ID, "tip")
    WebDriverWait(d, 5).until(lambda _: tip.is_displayed())
    assert "tokens/s/GPU" in tip.text and "TTFT" in tip.text
    shot = _screenshot(d, "webapp.png")
    assert shot.stat().st_size > 10_000


def _download(d, downloads: Path) -> None:
    d.find_element(By.ID, "download").click()
    status = d.find_element(By.ID, "dl-status")
    WebDriverWait(d, 60).until(lambda _: status.get_attribute("data-bytes") or d.find_element(By.ID, "error").text)
    assert status.get_attribute("data-bytes"), d.find_element(By.ID, "error").text
    name, size = status.get_attribute("data-name"), int(status.get_attribute("data-bytes"))
    deadline = time.monotonic() + 30
    while not (downloads / name).is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    zipped = downloads / name
    assert zipped.is_file() and zipped.stat().st_size == size, sorted(p.name for p in downloads.iterdir())
    names = zipfile.ZipFile(zipped).namelist()
    assert any(n.endswith("agg_1/k8s/deploy.yaml") for n in names) and any(n.endswith("/result.json") for n in names)


def test_bad_spec_shows_the_cli_message(browser, tmp_path):
    text = (
        "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 32\nworkload: {isl: 4000, osl: 500}\nsla: {tpot_ms: 0}\n"
    )
    d = browser
    d.find_element(By.ID, "tab-yaml").click()
    upload = tmp_path / "spec.yaml"
    upload.write_text(text)
    d.find_element(By.ID, "upload").send_keys(str(upload))  # the upload button reads the file into the text box
    WebDriverWait(d, 5).until(lambda _: d.find_element(By.ID, "spec_yaml").get_attribute("value") == text)
    d.find_element(By.ID, "run").click()
    error = d.find_element(By.ID, "error")
    WebDriverWait(d, 60).until(lambda _: error.is_displayed())
    assert error.text == page_wording(cli_error(text, tmp_path))
    assert not d.find_element(By.ID, "results").is_displayed()
    _fit_window(d)
    _screenshot(d, "webapp-error.png")


def test_nothing_meets_the_sla_shows_why_not_empty_axes(browser, tmp_path):
    text = (
        "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 1\nworkload: {isl: 4000, osl: 500}\nsla: {ttft_ms: 5}\n"
    )
    d = browser
    d.find_element(By.ID, "tab-yaml").click()
    box = d.find_element(By.ID, "spec_yaml")
    box.clear()
    box.send_keys(text)
    d.find_element(By.ID, "run").click()
    _wait_done(d)
    assert not d.find_element(By.ID, "error").is_displayed(), d.find_element(By.ID, "error").text
    (tmp_path / "spec.yaml").write_text(text)
    ref = cli_json(tmp_path / "spec.yaml")
    assert ref["best"] == {"agg": None, "disagg": None}
    plot = d.find_element(By.CSS_SELECTOR, "#plot svg.empty")
    assert "Nothing to plot: no deployment meets the spec" in plot.text
    for mode, why in ref["stats"]["infeasible_by_mode"].items():
        assert f"{mode}: {why}" in plot.text
    assert not d.find_elements(By.CSS_SELECTOR, "#plot svg .grid, #plot svg circle.point")  # no meaningless axes
    summary = d.find_element(By.ID, "summary").text
    assert "no MTP (speculative decoding off)" in summary and "solver time" in summary and " ms " in summary
    assert "nothing to export" in d.find_element(By.ID, "dl-status").text
    _fit_window(d)
    _screenshot(d, "webapp-empty.png")
