"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, one JupyterLab.

* Chromium is launched by path (Playwright's own browser download is not used); without
  a Chromium binary every browser test is skipped with a reason that says how to install
  one.
* One JupyterLab server per test session, on 127.0.0.1, a free port and a fixed token, in
  a temporary copy of the course, with throwaway settings and workspaces; stopped at the
  end by process group.  Each test works in its own folder of that copy, so tests do not
  share notebooks.
* A fresh browser context per test.  ``shot("name")`` keeps a screenshot of a step in the
  test's tmp folder; when a test fails, a last screenshot is taken and the paths of all
  of them are printed with the failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import ROOT, copy_course

INSTALL_HINT = ("no Chromium found for the browser tests: install Debian's with `apt-get update && apt-get install -y "
                "chromium fonts-liberation fonts-dejavu-core` (as .ci/run does), or set CHROMIUM_PATH to a Chromium "
                "or Chrome binary")
# /usr/bin/chromium is Debian's wrapper script (it prints a harmless shell warning): the binary first
CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
TOKEN = "course-browser-tests"
VIEWPORT = {"width": 1280, "height": 900}

# JupyterLab user settings that make its pages deterministic (see shared/BROWSER-NOTES.md)
LAB_SETTINGS = {
    # every cell rendered, also those off screen
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
    # no news toast over the buttons, no update check
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false", "checkForUpdates": false}',
    # a notebook is saved when the test saves it, never behind its back
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": '{"autosave": false}',
}


def find_chromium() -> str | None:
    """A Chromium (or Chrome) binary: ``CHROMIUM_PATH``, then Debian's, then PATH."""
    for name in (os.environ.get("CHROMIUM_PATH"), *CANDIDATES):
        if not name:
            continue
        path = name if os.path.isabs(name) else shutil.which(name)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


# ---------------------------------------------------------------------------------
# the browser
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(INSTALL_HINT)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
    pw = sync_api.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()
    finally:
        pw.stop()


class Screens:
    """Numbered screenshots of a test's steps, kept in its tmp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[Path] = []
        self.page = None

    def __call__(self, name: str, target=None, **kwargs) -> Path:
        """Screenshot the page (or ``target``, a page or an element) as ``NN-name.png``."""
        target = target or self.page
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.paths) + 1:02d}-{name}.png"
        target.screenshot(path=str(path), **kwargs)
        self.paths.append(path)
        return path


@pytest.fixture
def shot(request, tmp_path) -> Screens:
    screens = Screens(tmp_path / "screens")
    request.node._screens = screens
    return screens


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport=VIEWPORT)
    # generous: the suite runs in parallel (pytest-xdist), and a formgrader request has
    # been measured to wait more than 30 s while other workers grade
    ctx.set_default_timeout(60_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, shot):
    """A page that records console errors (``page.console_errors``) and screenshots (``shot``)."""
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda msg: pg.console_errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.console_errors.append(f"uncaught: {exc}"))
    shot.page = pg
    return pg


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    screens = getattr(item, "_screens", None)
    if screens is not None and report.failed:
        if report.when == "call" and screens.page is not None:
            try:
                screens("at-failure")
            except Exception as exc:  # noqa: BLE001 - the page may be gone; the failure is what matters
                report.sections.append(("screenshots", f"(no screenshot at failure: {exc})"))
        if screens.paths:
            report.sections.append(("screenshots", "\n".join(str(p) for p in screens.paths)))
    return report


# ---------------------------------------------------------------------------------
# JupyterLab
# ---------------------------------------------------------------------------------
@dataclass
class Lab:
    """A running JupyterLab: its address, token and the course copy it serves."""

    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen

    def workspace(self, name: str, *files: str) -> Path:
        """A fresh, non-hidden folder under the server's root holding copies of ``files``
        (paths relative to the course root); Jupyter refuses hidden paths."""
        folder = self.root / "work" / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for rel in files:
            shutil.copy2(self.root / rel, folder / Path(rel).name)
        return folder

    def open_url(self, path: Path) -> str:
        """The address that opens ``path`` in JupyterLab alone (``?reset``: no earlier tabs)."""
        rel = path.relative_to(self.root).as_posix()
        return f"{self.url}lab/tree/{rel}?reset&token={self.token}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}api/status?token={TOKEN}", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:g} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's process group; then any process it started elsewhere (kernels
    run in sessions of their own) that outlived it."""
    import psutil

    try:
        started = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        started = []
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for child in started:
        try:
            child.kill()
        except psutil.Error:
            pass


@contextlib.contextmanager
def running_lab(root: Path, base: Path, *, python: list[str] | None = None, env: dict | None = None,
                account=None):
    """JupyterLab serving ``root`` (also its working folder: the formgrader, Validate and
    the Assignment List read ``nbgrader_config.py`` there), with throwaway settings,
    workspaces and Jupyter folders under ``base``; run by ``python`` (default: this
    interpreter) as ``account`` (a ``pwd`` entry; default: this process's user), with
    ``env`` added.  Yields a :class:`Lab`; stops it by process group."""
    settings = base / "settings"
    for name, text in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for sub in ("workspaces", "config", "data", "runtime", "ipython"):
        (base / sub).mkdir(exist_ok=True)
    bindir = os.path.dirname(sys.executable)
    full_env = {
        **os.environ,
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),  # nbgrader runs alembic from PATH
        # nothing from the user's own Jupyter or IPython set-up
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        **(env or {}),
    }
    full_env.pop("MPLBACKEND", None)
    if account is not None:
        for path in [base, *base.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
    port = _free_port()
    log = base / "jupyterlab.log"
    cmd = [
        *(python or [sys.executable]), "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True", "--ServerApp.terminals_enabled=False",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    as_account = {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=full_env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, **as_account)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_ready(url, proc, log)
        yield Lab(url, TOKEN, root, log, proc)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def lab(tmp_path_factory, data_file, chromium_path) -> Lab:
    """One JupyterLab server for the session, in a temporary copy of the course (not
    started where there is no browser to show it)."""
    base = tmp_path_factory.mktemp("lab")
    root = copy_course(base / "course")
    with running_lab(root, base, env={"COURSE_DATA_DIR": str(data_file.parent.resolve())}) as running:
        yield running


def course(root, *args: str, status: int = 0) -> str:
    """``course ARGS`` in ``root``, as an instructor runs it (the environment's bin first on PATH),
    which must exit with ``status``."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "--course-dir", str(root), *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == status, f"course {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout



def lab_is_ready(page, timeout: float = 60_000) -> None:
    """Wait until the notebook's kernel is idle (the status bar says so)."""
    page.locator(".jp-NotebookPanel:visible").wait_for(timeout=timeout)
    page.get_by_text("Idle", exact=False).first.wait_for(timeout=timeout)


__all__ = ["ROOT", "Lab", "Screens", "find_chromium", "course", "lab_is_ready", "running_lab"]
