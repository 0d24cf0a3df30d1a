"""The HTML pages through Flask's test client: CSRF, escaping, the result page, instructors."""

from __future__ import annotations

import io
import re

from web_support import SEED_ANSWERS, TOKEN


def csrf(client, path="/") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def answers_form(token, student="Ada", answers=None, problem="backprop"):
    form = {"csrf_token": token, "problem": problem, "mode": "answers", "student": student}
    for pid, latex in (answers or SEED_ANSWERS).items():
        form[f"answer-{pid}"] = latex
    return form


def test_form_lists_parts_and_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for pid in "abcdefg":
        assert f'name="answer-{pid}"' in page and f'id="preview-{pid}"' in page
    assert f'maxlength="{client.application.config["MAX_ANSWER_CHARS"]}"' in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/?problem=nope").status_code == 404


def test_post_without_csrf_token_is_refused(client):
    client.get("/")
    for token in (None, "", "forged"):
        form = answers_form(token or "")
        if token is None:
            del form["csrf_token"]
        response = client.post("/submit", data=form)
        assert response.status_code == 400
        assert "expired" in response.get_data(as_text=True)
    # a token from another session does not work either
    other = csrf(client.application.test_client())
    assert client.post("/submit", data=answers_form(other)).status_code == 400


def test_submit_answers_redirects_to_result_page(client):
    token = csrf(client)
    response = client.post("/submit", data=answers_form(token))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/submissions/\d+\?token=[\w-]+", location)
    page = client.get(location).get_data(as_text=True)
    assert 'id="total-score">8</span> / 8' in page
    assert page.count('class="badge correct"') == 7
    assert "<math" in page                      # what was read, rendered as MathML
    assert f"http://localhost{location}" in page   # the link to come back to it
    # a fresh browser (no session) opens it with the link alone
    fresh = client.application.test_client()
    assert fresh.get(location).status_code == 200
    assert fresh.get(location.split("?")[0]).status_code == 404
    assert fresh.get(location[:-2]).status_code == 404


def test_student_text_is_escaped_everywhere(client):
    token = csrf(client)
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    response = client.post("/submit", data=answers_form(
        token, student=evil, answers={"a": evil, "b": r"\sigma(x) </math><script>"}))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "</math><script>" not in page


def test_form_errors_keep_the_students_work(client):
    token = csrf(client)
    long = "x" * (client.application.config["MAX_ANSWER_CHARS"] + 500)
    answers = {"a": r"\sigma(x)", "b": long}
    response = client.post("/submit", data=answers_form(token, answers=answers))
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "too long" in page
    assert r"\sigma(x)</textarea>" in page and long in page
    response = client.post("/submit", data=answers_form(token, student="  ", answers=answers))
    assert response.status_code == 400 and "student" in response.get_data(as_text=True)
    response = client.post("/submit", data=answers_form(token, answers={"a": ""}))
    assert response.status_code == 400 and "no answer" in response.get_data(as_text=True)


def test_submit_pasted_and_uploaded_documents(client, seed_text):
    token = csrf(client)
    response = client.post("/submit", data={"csrf_token": token, "problem": "backprop",
                                            "mode": "document", "student": "Doc",
                                            "document": seed_text, "format": "md"})
    assert response.status_code == 303
    assert 'id="total-score">8</span>' in client.get(response.headers["Location"]).get_data(
        as_text=True)
    response = client.post("/submit", data={
        "csrf_token": token, "problem": "backprop", "mode": "document", "student": "",
        "document": "", "file": (io.BytesIO(seed_text.encode()), "upload-name.md")},
        content_type="multipart/form-data")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "by upload-name" in page and 'id="total-score">8</span>' in page
    response = client.post("/submit", data={
        "csrf_token": token, "problem": "backprop", "mode": "document", "student": "x",
        "file": (io.BytesIO(b"\xff\xfejunk"), "junk.tex")},
        content_type="multipart/form-data")
    assert response.status_code == 400 and "UTF-8" in response.get_data(as_text=True)


def login(client, token=TOKEN, next_path=""):
    return client.post("/instructor/login", data={"csrf_token": csrf(client, "/instructor/login"),
                                                  "token": token, "next": next_path})


def test_instructor_pages_need_login(client):
    for path in ("/instructor/", "/instructor/problems/backprop",
                 "/instructor/problems/backprop/review",
                 "/instructor/problems/backprop/gradebook.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/instructor/login")
    assert login(client, "wrong").status_code == 403
    assert client.get("/instructor/").status_code == 302
    # the bearer token alone does not open the pages (they use the session)
    assert client.get("/instructor/",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 302


def test_instructor_workflow_in_pages(client):
    token = csrf(client)
    location = client.post("/submit", data=answers_form(token, student="Kim")).headers[
        "Location"]
    sid = int(re.search(r"/submissions/(\d+)", location).group(1))
    response = login(client, next_path="/instructor/problems/backprop")
    assert response.status_code == 303
    assert response.headers["Location"] == "/instructor/problems/backprop"
    assert login(client, next_path="//evil.example/").headers["Location"] == "/instructor/"
    page = client.get("/instructor/problems/backprop").get_data(as_text=True)
    assert "Kim" in page and "8 / 8" in page
    csv_text = client.get("/instructor/problems/backprop/gradebook.csv").get_data(as_text=True)
    assert csv_text.splitlines() == ["student,a,b,c,d,e,f,g,total", "Kim,1,1.5,1,1,1.5,1,1,8"]
    # the instructor opens any result without its token
    assert client.get(f"/submissions/{sid}").status_code == 200
    # override a part from the page, then regrade: the override stands
    form = {"csrf_token": csrf(client, "/instructor/problems/backprop/review"), "score": "0.5",
            "verdict": "partial", "comment": "Shown without working."}
    response = client.post(f"/instructor/submissions/{sid}/parts/a/override", data=form)
    assert response.status_code == 303
    assert "Saved" in client.get(response.headers["Location"]).get_data(as_text=True)
    bad = dict(form, score="9")
    response = client.post(f"/instructor/submissions/{sid}/parts/a/override", data=bad)
    assert "Not saved" in client.get(response.headers["Location"]).get_data(as_text=True)
    response = client.post("/instructor/problems/backprop/regrade",
                           data={"csrf_token": form["csrf_token"]})
    assert response.status_code == 303
    assert "Regrading 1 submission" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert client.application.extensions["grader"].wait_idle(60)
    page = client.get(location).get_data(as_text=True)
    assert 'id="total-score">7.5</span>' in page and "Shown without working." in page
    # logging out closes the pages again
    client.post("/instructor/logout", data={"csrf_token": form["csrf_token"]})
    assert client.get("/instructor/").status_code == 302


def test_error_pages_are_html_without_traces(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Traceback" not in response.get_data(as_text=True)


def test_prompts_draw_their_math_and_keep_what_does_not_read(client):
    page = client.get("/?problem=backprop").get_data(as_text=True)
    part_b = page.split('id="part-b"')[1].split('id="part-c"')[0]
    prompt = part_b.split('class="prompt">')[1].split("</span></label>")[0]
    assert prompt.count("<math") == 5          # \delta_k = ..., \delta_k, c_k, t_k, h_k
    assert "<code>g&#39;</code>" in prompt     # a bare g' does not read: shown as written
    assert "$" not in prompt
