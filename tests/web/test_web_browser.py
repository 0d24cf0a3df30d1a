"""The student form in real headless Chromium (Debian's, driven by Playwright), against the
app served by waitress on loopback. Also makes the screenshots in docs/images/."""

from __future__ import annotations

import re
import time

import pytest
from web_support import (
    IMAGES,
    SEED,
    SEED_ANSWERS,
    SLOW_G,
    TOKEN,
    LiveServer,
    make_app,
    problems_dir,
    wait_for,
)

from grader.problem import PROBLEMS_ENV
from grader.web.storage import Store

SLOW_LIMIT = 3          # seconds: backprop's time limit for the slow server here


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts (``new_page(width=390, is_mobile=True)``); each must
    end without a script error or a console error."""
    contexts, errors = [], []

    def make(width: int = 1100, height: int = 900, **options):
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))

        def console(msg):   # a preview of an unreadable answer is a 422 by design
            if msg.type == "error" and "status of 422" not in msg.text:
                errors.append(msg.text)

        page.on("console", console)
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def page(new_page, live):
    return new_page()


@pytest.fixture
def slow_live(tmp_path, pool, monkeypatch):
    """The app with backprop under a short time limit and a short wait, under waitress."""
    folder = problems_dir(tmp_path / "problems", time_limit=SLOW_LIMIT)
    monkeypatch.setenv(PROBLEMS_ENV, str(folder))
    server = LiveServer(make_app(tmp_path / "grader.db", pool, GRADING_WAIT_SECONDS=0.3))
    yield server
    server.app.extensions["grader"].queue.close()
    server.close()
    server.app.extensions["grader"].wait_idle(3 * SLOW_LIMIT)


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


def _no_sideways_scroll(page) -> None:
    width, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""")
    assert width <= client, f"the page scrolls sideways ({width} > {client} px): {wide}"


def test_the_form_works_at_390_px(new_page, live):
    page = new_page(width=390, height=844, is_mobile=True, has_touch=True)
    page.goto(live.url + "/")
    assert page.evaluate("window.innerWidth") == 390
    _no_sideways_scroll(page)
    page.fill("#student", "Mo Bile")
    for pid, latex in SEED_ANSWERS.items():
        field = page.locator(f"#answer-{pid}")
        box = field.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (pid, box)
        field.fill(latex)
    for pid in SEED_ANSWERS:
        page.locator(f"#preview-{pid}.ok math").wait_for()
    _no_sideways_scroll(page)
    page.screenshot(path=str(IMAGES / "form-390.png"), full_page=True)
    button = page.locator("#submit-answers")
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    button.tap()
    page.wait_for_url(re.compile(r"/submissions/\d+\?token=[\w-]+$"))
    assert page.locator("#total-score").inner_text() == "8"
    _no_sideways_scroll(page)
    page.screenshot(path=str(IMAGES / "result-390.png"), full_page=True)


def test_the_result_page_polls_until_the_result_is_there(new_page, slow_live):
    page = new_page()
    page.goto(slow_live.url + "/")
    page.fill("#student", "Patience")
    page.fill("#answer-f", SEED_ANSWERS["f"])
    page.fill("#answer-g", SLOW_G)
    page.click("#submit-answers")
    page.wait_for_url(re.compile(r"/submissions/\d+\?token=[\w-]+$"))
    url = page.url
    assert page.locator("#grading").inner_text().startswith("Grading")
    assert page.locator("#total-score").count() == 0
    # no reload by hand: the page's script polls and shows the result when it is stored
    page.locator("#total-score").wait_for(timeout=(SLOW_LIMIT + 20) * 1000)
    assert page.url == url
    assert page.locator("#result-f .badge").inner_text() == "correct"
    assert page.locator("#result-g .badge").inner_text() == "review"
    assert page.locator("#total-score").inner_text() == "1"


def _login(page, base: str) -> None:
    page.goto(base + "/instructor/login")
    page.fill("#token", TOKEN)
    page.click("button.primary")
    page.wait_for_url(base + "/instructor/")


def test_review_needs_a_chosen_verdict_and_regrade_shows_progress(new_page, slow_live):
    status, _, created = slow_live.request(
        "POST", "/api/v1/problems/backprop/submissions",
        {"student": "Rex", "answers": {"f": SEED_ANSWERS["f"], "g": SLOW_G}})
    assert status == 202
    svc = slow_live.app.extensions["grader"]
    assert svc.wait_idle(SLOW_LIMIT + 20)
    page = new_page()
    _login(page, slow_live.url)

    page.goto(slow_live.url + "/instructor/problems/backprop/review")
    form = page.locator("form.review-item").first
    assert form.locator("select[name=verdict]").input_value() == ""
    assert form.locator("input[name=score]").input_value() == ""
    form.locator("button[type=submit]").click()
    # the browser refuses to send it: a score and a verdict must be chosen
    assert page.url.endswith("/review")
    assert form.locator("select[name=verdict]:invalid").count() == 1
    assert page.locator(".flash").count() == 0
    form.locator("input[name=score]").fill("0.5")
    form.locator("button[type=submit]").click()
    assert form.locator("select[name=verdict]:invalid").count() == 1
    assert page.locator(".flash").count() == 0
    form.locator("select[name=verdict]").select_option("partial")
    form.locator("button[type=submit]").click()
    page.locator(".flash").wait_for()
    assert page.locator(".flash").inner_text().startswith("Saved")

    # Regrade all: the page comes back at once and shows the progress, then the end
    page.goto(slow_live.url + "/instructor/problems/backprop")
    started = time.perf_counter()
    page.click("#regrade-all")
    page.locator("#regrade-bar").wait_for()
    took = time.perf_counter() - started
    assert took < 2.0, took
    assert page.locator("#regrade-text").inner_text().startswith("Regrading: 0 of 1")
    page.locator("text=Last regrade").wait_for(timeout=(SLOW_LIMIT + 20) * 1000)
    assert "1 of 1 done" in page.locator("#regrade-text").inner_text()
    assert page.locator("#regrade-bar").get_attribute("value") == "1"


def test_a_long_class_list_is_paged(new_page, live):
    store = Store(live.app.config["DATABASE"])
    ids = [store.add_submission("softmax", f"student {n:03d}", f"t{n}", "answers", {})
           for n in range(857)]
    for sid in ids:
        store.save_result(sid, {"problem": "softmax", "submission": "x", "score": 1.0,
                                "max_score": 2.0, "parts": {}})
    page = new_page()
    _login(page, live.url)
    page.goto(live.url + "/instructor/problems/softmax")
    assert page.locator("#submissions tbody tr").count() == 50
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height                       # 57,000 px before
    assert "Page 1 of 18 (857 submissions)" in page.locator(".pager").first.inner_text()
    page.locator("a[rel=next]").first.click()
    page.wait_for_url(re.compile(r"page=2$"))
    assert page.locator("#submissions tbody tr").count() == 50
    wait_for(lambda: page.locator("a[rel=prev]").count() == 2, what="the page links")
