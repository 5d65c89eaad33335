"""The pictures in the README and docs/ are the ones the browser tests write.

``tests/dashboards/test_ui_browser.doc_picture`` writes ``docs/img/<name>.png`` on every run
of the browser tests, so a run refreshes them (and ``git status`` shows it). Here, cheaply:
every picture a page shows exists and is one the browser tests write, and every picture in
``docs/img/`` is shown somewhere — nothing drawn by hand that no test would ever refresh.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.dashboards.test_ui_browser import DOC_IMAGES, DOC_PICTURES, DOC_VIEWPORT

REPO = Path(__file__).resolve().parents[1]
#: ![alt](path) in Markdown
PICTURE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def _shown() -> dict[Path, list[str]]:
    """Each picture a page shows (resolved from that page), with the pages and alt texts."""
    shown: dict[Path, list[str]] = {}
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for alt, target in PICTURE.findall(page.read_text(encoding="utf-8")):
            assert alt.strip(), f"{page.name}: a picture without alt text: {target}"
            assert "://" not in target, f"{page.name}: a picture from elsewhere: {target}"
            shown.setdefault((page.parent / target).resolve(), []).append(page.name)
    return shown


def test_every_picture_shown_is_written_by_the_browser_tests() -> None:
    shown = _shown()
    assert shown, "no picture in the README or docs/"
    written = {(DOC_IMAGES / f"{name}.png").resolve() for name in DOC_PICTURES}
    for path, pages in shown.items():
        assert path in written, f"{pages}: {path.name} is not written by the browser tests"
        assert path.is_file(), f"{pages}: {path} is missing (run the browser tests)"


def test_every_picture_in_docs_img_is_shown() -> None:
    shown = _shown()
    present = {p.resolve() for p in DOC_IMAGES.iterdir()}
    assert present == {(DOC_IMAGES / f"{name}.png").resolve() for name in DOC_PICTURES}
    assert not present - set(shown), f"not shown anywhere: {sorted(present - set(shown))}"


def test_pictures_are_small_pngs_of_the_doc_viewport() -> None:
    from PIL import Image

    for name in DOC_PICTURES:
        path = DOC_IMAGES / f"{name}.png"
        assert path.stat().st_size < 80_000, (name, path.stat().st_size)
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == (DOC_VIEWPORT["width"], DOC_VIEWPORT["height"])
