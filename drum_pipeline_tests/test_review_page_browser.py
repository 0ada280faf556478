"""The review page in a real Chromium on a trained demo run: a file plays, two corrections by key,
one undone with `z`; the corrections file, the index and the mirror say so. Needs Debian's
chromium and chromium-driver (skipped without them)."""

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from test_review_page import free_port, start_review_page, stop_review_page

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900"]


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium driven by selenium, on a fresh profile."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no Chromium: `apt-get install chromium chromium-driver` to run the review page in a browser")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def wait_for(driver, script: str, timeout: float = 120):
    """The value of a JavaScript expression once it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.2)
    status = driver.execute_script("return document.getElementById('status').textContent")
    raise AssertionError(f"{script} stayed false for {timeout} s; the page says {status!r}")


def press(driver, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def play_current(driver) -> float:
    """Play the current file with the space key until its duration is known, pause it; its duration."""
    press(driver, " ")
    duration = wait_for(driver, "(a => isFinite(a.duration) && a.duration > 0 && a.duration)"
                                "(rows[current].querySelector('audio'))")
    if not driver.execute_script("return rows[current].querySelector('audio').paused"):  # a one-shot may be over
        press(driver, " ")
    wait_for(driver, "rows[current].querySelector('audio').paused")
    return duration


def _index(output: Path) -> pd.DataFrame:
    return pd.read_parquet(output / "tables" / "archive_index").set_index("path")


def _mirror_entry(output: Path, path: str) -> Path:
    """Where the mirror holds an archive file (its ledger's target), checked to exist."""
    target = pd.read_parquet(output / "tables/rebuilt_archive.parquet").set_index("path").loc[path, "target"]
    entry = output / "rebuilt" / target
    assert entry.is_symlink() or entry.exists()
    return entry


def test_review_by_ear_in_chromium(indexed_copy, chromium):
    _, output, archive, env = indexed_copy("review_page")
    port = free_port()
    server = start_review_page(env, port)
    try:
        chromium.get(f"http://127.0.0.1:{port}/")
        wait_for(chromium, "document.querySelectorAll('#queue li').length >= 2")
        items, classes = chromium.execute_script("return [items, Object.values(keyLabels).slice(0, 6)]")
        assert classes == ["kick", "snare", "hihat", "tom", "cymbal", "percussion"]

        assert play_current(chromium) > 0  # the first file
        aiff = next((i for i, item in enumerate(items) if item["path"].lower().endswith((".aif", ".aiff"))), None)
        if aiff is not None:  # decoded to WAV for Chromium
            chromium.execute_script(f"select({aiff})")
            assert play_current(chromium) > 0
            press(chromium, "k" * aiff)  # back to the first file, by key
        assert chromium.execute_script("return current") == 0

        before = _index(output)
        first, second = items[0]["path"], items[1]["path"]
        mirror_before = _mirror_entry(output, second)
        chosen = {}
        for done, path in enumerate((first, second), start=1):
            chosen[path] = next(c for c in classes if c != before.loc[path, "label"])
            assert chromium.execute_script("return items[current].path") == path
            press(chromium, str(classes.index(chosen[path]) + 1))  # corrects, then moves to the next file
            wait_for(chromium, f"document.querySelectorAll('li.corrected').length === {done} && !busy")
        press(chromium, "z")
        wait_for(chromium, "document.getElementById('status').textContent.startsWith('undone') && !busy")
        assert chromium.execute_script("return [items[current].path, items[current].label, items[current].label_source]") \
            == [second, before.loc[second, "label"], before.loc[second, "label_source"]]
        chromium.save_screenshot(str(output / "review_page.png"))
    finally:
        stop_review_page(server)

    corrections = pd.read_csv(output / "corrections.csv", dtype=str, keep_default_na=False)
    assert corrections[["path", "label"]].values.tolist() == [[first, chosen[first]]]
    after = _index(output)
    assert (after.loc[first, "label"], after.loc[first, "label_source"]) == (chosen[first], "correction")
    pd.testing.assert_series_equal(after.loc[second], before.loc[second])  # undone: as it was
    assert _mirror_entry(output, first).relative_to(output / "rebuilt").parts[0] == chosen[first]
    assert (archive / first).resolve() == _mirror_entry(output, first).resolve()
    assert _mirror_entry(output, second) == mirror_before
