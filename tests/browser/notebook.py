"""A notebook open in JupyterLab, driven as a person would: keyboard, menus, buttons.

Cells are found by their position in the file (the notebook's own JSON gives which
position a grade id has); everything else goes through the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

READY_TIMEOUT = 90_000  # ms: a kernel is ready 4-6 s after opening on this machine; CI is slower
RUN_TIMEOUT = 120_000


def grade_ids(path: Path) -> list[str | None]:
    """The nbgrader grade id (or None) of each cell of the notebook file, in order."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb["cells"]]


def accept_kernel_dialog(page: Page) -> None:
    """Accept the "Select Kernel" dialog JupyterLab shows now and then, when a notebook
    opens before the kernel specs have loaded (shared/BROWSER-NOTES.md)."""
    dialog = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
    page.add_locator_handler(dialog, lambda: dialog.get_by_role("button", name="Select", exact=True).click())


class Notebook:
    """One notebook in the visible notebook panel."""

    def __init__(self, page: Page, path: Path, shot=None) -> None:
        self.page = page
        self.path = Path(path)
        self.panel = page.locator(".jp-NotebookPanel:visible")
        self.ids = grade_ids(self.path)
        self.shot = shot  # called with a step's name after each step (conftest's Screens)

    def _done(self, step: str) -> None:
        if self.shot is not None:
            self.shot(step)

    # -- waiting ---------------------------------------------------------------------
    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """The notebook is rendered and its kernel started and idle."""
        self.panel.locator(".jp-Cell").first.wait_for(timeout=timeout)
        status = self.page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"Python 3.*\|\s*Idle"))
        status.first.wait_for(timeout=timeout)

    def wait_runs_done(self, timeout: float = RUN_TIMEOUT) -> None:
        """No cell is running or queued any more ("[*]" prompts) and the kernel is idle."""
        expect(self.panel.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0, timeout=timeout)
        self.wait_ready(timeout)

    # -- cells -----------------------------------------------------------------------
    def cell(self, which: str | int) -> Locator:
        """A cell by its grade id, or by its position."""
        index = which if isinstance(which, int) else self.ids.index(which)
        return self.panel.locator(".jp-Notebook .jp-Cell").nth(index)

    def output(self, which: str | int) -> Locator:
        return self.cell(which).locator(".jp-OutputArea")

    def answer(self, grade_id: str, code: str) -> None:
        """Type ``code`` in place of the stub's two lines (``# YOUR CODE HERE`` and
        ``raise NotImplementedError()``) at the top of a solution cell."""
        editor = self.cell(grade_id).locator(".cm-content")
        editor.click()
        keyboard = self.page.keyboard
        keyboard.press("Control+Home")
        keyboard.press("Shift+ArrowDown")
        keyboard.press("Shift+ArrowDown")
        keyboard.type(code + "\n")
        keyboard.press("Escape")  # back to command mode, as after editing
        self._done(f"answered-{grade_id}")

    def append_cell(self, code: str) -> int:
        """A new code cell at the end of the notebook, holding ``code`` (typed); its position."""
        cells = self.panel.locator(".jp-Notebook .jp-Cell")
        index = cells.count()
        cells.last.click()
        keyboard = self.page.keyboard
        keyboard.press("Escape")
        keyboard.press("b")  # insert a cell below (command mode)
        expect(cells).to_have_count(index + 1)
        keyboard.press("Enter")  # edit it
        keyboard.type(code)
        keyboard.press("Escape")
        self.ids.append(None)
        self._done("added-cell")
        return index

    # -- menus and buttons -----------------------------------------------------------
    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()

    def run_all(self) -> None:
        self.menu("Run", "Run All Cells")
        self.wait_runs_done()
        self._done("ran-all")

    def run_cell(self, which: str | int) -> None:
        """Select a cell, run it with Shift+Enter (which selects the next one, or adds a
        cell after the last), and wait for it."""
        self.cell(which).locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Shift+Enter")
        self.wait_runs_done()
        self._done(f"ran-{which}")

    def save(self) -> None:
        self.page.keyboard.press("Control+s")
        expect(self.page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0)
        self._done("saved")

    def validate(self, timeout: float = RUN_TIMEOUT) -> Locator:
        """Press nbgrader's Validate button; the results dialog."""
        self.panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True).click()
        dialog = self.page.locator(".jp-Dialog").filter(has_text="Validation Results")
        dialog.wait_for(timeout=timeout)
        self._done("validated")
        return dialog


def open_notebook(page: Page, url: str, path: Path, shot=None) -> Notebook:
    """Open ``url`` (a notebook of the running JupyterLab) and wait for its kernel;
    ``shot(name)`` is called after this and every later step."""
    accept_kernel_dialog(page)
    page.goto(url)
    nb = Notebook(page, path, shot)
    nb.wait_ready()
    nb._done("opened")
    return nb
