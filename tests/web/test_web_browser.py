"""The student form in real headless Chromium (Debian's, driven by Playwright), against the
app served by waitress on loopback. Also makes the screenshots in docs/images/."""

from __future__ import annotations

import re

import pytest
from web_support import IMAGES, SEED, SEED_ANSWERS


@pytest.fixture
def page(browser, live):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    def console(msg):   # a preview of an unreadable answer is a 422 by design
        if msg.type == "error" and "status of 422" not in msg.text:
            errors.append(msg.text)

    page.on("console", console)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def test_type_preview_submit_and_see_scores(page, live):
    page.goto(live.url + "/")
    assert page.title().startswith("Backpropagation")
    page.fill("#student", "Ada Lovelace")

    # a typo is shown at its position, while typing
    page.fill("#answer-c", r"\delta_k (b_j")
    error = page.locator("#preview-c.error")
    error.wait_for()
    assert "Cannot read" in error.inner_text()
    assert error.locator("mark").count() == 1
    page.screenshot(path=str(IMAGES / "preview-error.png"), clip=_box(page, "#part-c"))

    # every answer is read back as rendered MathML
    for pid, latex in SEED_ANSWERS.items():
        page.fill(f"#answer-{pid}", latex)
    for pid in SEED_ANSWERS:
        page.locator(f"#preview-{pid}.ok math").wait_for()
    mathml = page.locator("#preview-b math").inner_html()
    assert "<mi>g</mi>" in mathml and "′" in mathml
    # the browser lays the MathML out natively (it has a real size on the page)
    box = page.locator("#preview-e math").bounding_box()
    assert box and box["width"] > 60 and box["height"] > 10
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "form.png"), full_page=True)

    page.click("#submit-answers")
    page.wait_for_url(re.compile(r"/submissions/\d+\?token=[\w-]+$"))
    assert page.locator("#total-score").inner_text() == "8"
    assert page.locator(".badge.correct").count() == 7
    assert page.locator("#result-b .read-as math").count() == 1
    link = page.locator("#result-link").get_attribute("href")
    assert link == page.url
    page.screenshot(path=str(IMAGES / "result.png"), full_page=True)

    # back on the form: the answers are still there, and a link to this result
    page.goto(live.url + "/")
    assert page.input_value("#answer-e") == SEED_ANSWERS["e"]
    assert page.input_value("#student") == "Ada Lovelace"
    earlier = page.locator("#earlier a")
    earlier.first.wait_for()
    assert earlier.last.inner_text().endswith("(8)")
    earlier.last.click()
    page.wait_for_url(link)
    assert page.locator("#total-score").inner_text() == "8"


def test_paste_the_seed_document(page, live):
    page.goto(live.url + "/")
    page.fill("#doc-student", "Seed Student")
    page.fill("#document", SEED.read_text(encoding="utf-8"))
    page.click("#submit-document")
    page.wait_for_url(re.compile(r"/submissions/\d+\?token="))
    assert page.locator("#total-score").inner_text() == "8"
    assert "Seed Student" in page.locator("#result").inner_text()


def test_upload_a_document_and_a_wrong_answer(page, live, tmp_path):
    doc = tmp_path / "bea.md"
    doc.write_text("(c) Your answer: $\\delta_k b_k$\n\n(d) Your answer: $-\\delta_k$\n")
    page.goto(live.url + "/")
    page.set_input_files("#file", str(doc))
    page.click("#submit-document")
    page.wait_for_url(re.compile(r"/submissions/\d+\?token="))
    assert "by bea" in page.locator("#result").inner_text()
    assert page.locator("#total-score").inner_text() == "0"
    assert page.locator("#result-c .badge").inner_text() in {"incorrect", "invalid"}
    assert "b_k" in page.locator("#result-c").inner_text()
    assert page.locator("#result-a .badge").inner_text() == "missing"


def _box(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    return {"x": box["x"] - 8, "y": box["y"] - 4, "width": box["width"] + 16,
            "height": box["height"] + 8}
