"""Notebook 08 as a student sees it: JupyterLab in a real (headless) Chromium, Run > Run All Cells on the course run.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when it can) and ``selenium`` (the
test extras); skips with the reason when one is missing. Screenshots go into the test's temporary folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from course import paths

NOTEBOOK = "08_evaluation_and_visualization.ipynb"
# JupyterLab settings for the test: every cell stays in the page (no windowing), no news or update pop-ups.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false", "checkForUpdates": false}',
}


def browser_and_driver() -> tuple[str, str]:
    browsers = [shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")]
    browser = next((path for path in browsers if path), None)
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(
            "Chromium and its driver are not installed (Debian: apt-get install chromium chromium-driver; "
            ".ci/run does it when it can)"
        )
    return browser, driver


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path, course_run, keras_home):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of notebook 08 whose parameters cell points at the
    course run (papermill's ``prepare_only``: the notebook exactly as the course command runs it, not executed)."""
    import papermill

    run_dir, _ = course_run
    root = tmp_path / "lab"
    root.mkdir()
    papermill.execute_notebook(
        str(paths.NOTEBOOKS_DIR / NOTEBOOK),
        str(root / NOTEBOOK),
        parameters={"RUN_DIR": str(run_dir)},
        prepare_only=True,
        progress_bar=False,
    )
    settings = tmp_path / "settings"
    for name, text in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(text)
    port, token = free_port(), secrets.token_hex(16)
    # as a student has it: TensorFlow's logging left to the notebook, matplotlib's inline backend
    env = {
        key: value
        for key, value in os.environ.items()  # a student's kernel: no test settings, someone clicks
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND", "CAPTIONING_COURSE_UNATTENDED")
    }
    env.update(
        KERAS_HOME=str(keras_home),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(paths.REPO_ROOT), env.get("PYTHONPATH")])),
    )
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield f"{url}/lab/tree/{NOTEBOOK}?token={token}"
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture
def chromium(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    browser, driver_path = browser_and_driver()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    yield driver
    driver.quit()


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# In-page JavaScript: the state of the notebook's code cells.
PROMPTS = "return [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"


@pytest.mark.course
def test_notebook_08_runs_in_jupyterlab_in_a_real_browser(jupyterlab, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    chromium.get(jupyterlab)
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell"), 60, "the notebook to open")
    # the kernel is connected and idle: the status bar says "Python 3 (ipykernel) | Idle"
    wait_for(
        lambda: "| Idle" in chromium.find_element(By.CSS_SELECTOR, "#jp-main-statusbar").text, 90, "the kernel to start"
    )

    def run_all_cells():  # Run > Run All Cells, through the menus
        next(item for item in chromium.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if item.text == "Run").click()
        wait_for(
            lambda: [
                item
                for item in chromium.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")
                if item.text.startswith("Run All Cells")
            ],
            10,
            "the Run menu",
        )[0].click()

    def started_running():
        return any(p == "[*]:" or p[1:-2].isdigit() for p in chromium.execute_script(PROMPTS))

    run_all_cells()
    try:
        wait_for(started_running, 20, "the cells to start running")
    except AssertionError:  # the click came before the page was ready for it: once more
        chromium.save_screenshot(str(tmp_path / "08_before_run.png"))
        dialogs = [d.text for d in chromium.find_elements(By.CSS_SELECTOR, ".jp-Dialog")]
        assert not dialogs, f"a dialog is open: {dialogs}"
        run_all_cells()
        wait_for(started_running, 20, "the cells to start running (second Run All Cells)")
    try:
        prompts = wait_for(
            lambda: (lambda p: p if p and all(x not in ("[ ]:", "[*]:", "") for x in p) else None)(
                chromium.execute_script(PROMPTS)
            ),
            900,
            "every cell to run",
        )
    except AssertionError as error:
        chromium.save_screenshot(str(tmp_path / "08_timed_out.png"))
        raise AssertionError(f"{error}; the cells' prompts: {chromium.execute_script(PROMPTS)}") from None
    assert all(p.startswith("[") for p in prompts), prompts
    seconds = time.monotonic() - started

    stderr = chromium.execute_script(
        "return [...document.querySelectorAll('[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
        ".map(o => o.textContent)"
    )
    assert not stderr, f"stderr or error outputs in the page: {stderr}"

    dropdown = chromium.find_elements(By.CSS_SELECTOR, ".widget-dropdown select")
    upload = chromium.find_elements(By.CSS_SELECTOR, ".widget-upload")
    assert dropdown and upload, "the explorer's dropdown and upload button are not in the page"
    assert "or upload a photo" in upload[0].text
    assert chromium.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", upload[0]), (
        "the upload button's label is cut"
    )
    explorer_text = chromium.execute_script("return arguments[0].closest('.jp-OutputArea').textContent", dropdown[0])
    assert "human:" in explorer_text and "startseq" not in explorer_text and "endseq" not in explorer_text

    # the caption grid: the cell that draws it shows one loaded image
    grid = chromium.execute_script("""
        const cell = [...document.querySelectorAll('.jp-CodeCell')]
            .find(c => c.querySelector('.jp-InputArea').textContent.includes('visualization.caption_grid('));
        const image = cell && cell.querySelector('.jp-OutputArea img');
        if (image) image.scrollIntoView();
        return image ? [image.complete, image.naturalWidth, image.naturalHeight] : null;""")
    assert grid and grid[0] and grid[1] > 500 and grid[2] > 500, f"the caption grid is not displayed: {grid}"
    chromium.save_screenshot(str(tmp_path / "08_caption_grid.png"))

    chromium.execute_script("arguments[0].scrollIntoView()", dropdown[0])
    chromium.save_screenshot(str(tmp_path / "08_explorer.png"))
    print(f"08 opened and ran in JupyterLab in {seconds:.0f} s; screenshots in {tmp_path}")
