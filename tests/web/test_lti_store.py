"""The LTI records on both engines: the score outbox (a newer score replaces one not yet sent,
a leased row is not leased twice, a score sent while a newer one came in stays owed, the
retry schedule) and pylti1p3's launch data (a nonce is good once); and, over many inputs, the
platform check and the role and frame rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web_support import sql

from grader.course import Assignment, iso
from grader.errors import CourseError
from grader.web.lti import frame_origins, is_staff
from grader.web.ltistore import FAILED, PENDING_SCORE, SENT, check_platform
from grader.web.ltitool import ScoreSender, StoreLaunchData

PLATFORM = {"name": "LMS", "issuer": "https://lms.example.edu", "client_id": "c1",
            "auth_login_url": "https://lms.example.edu/auth",
            "auth_token_url": "https://lms.example.edu/token",
            "key_set_url": "https://lms.example.edu/jwks", "deployment_ids": ["d1"]}


@pytest.fixture
def lti(app):
    store = app.extensions["grader_lti"]
    svc = app.extensions["grader"]
    now = datetime.now(UTC)
    svc.course.save_assignment(Assignment.make({
        "id": "hw1", "problem": "backprop", "opens_at": iso(now - timedelta(days=1)),
        "due_at": iso(now + timedelta(days=1))}, problems=["backprop"]), create=True)
    platform = store.register(PLATFORM)
    svc.course.lti_student(platform.id, "sub-1", "Ann Lee", "ann@u.edu", "s1")
    link = store.bind_link(platform.id, "d1", "rl-1", "hw1", "https://lms.example.edu/li/1",
                           ["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
    store.launched(link, "s1", "sub-1")
    return store


def test_a_newer_score_replaces_one_not_yet_sent_and_only_launched_students_are_owed(lti):
    assert lti.queue_score("hw1", "s1", 3, 8) == 1
    assert lti.queue_score("hw1", "s1", 5, 8) == 1
    assert lti.queue_score("hw1", "nobody", 5, 8) == 0     # never launched from the LMS
    [owed] = lti.scores()
    assert (owed.score, owed.status, owed.sub) == (5, PENDING_SCORE, "sub-1")


def test_a_leased_row_is_not_leased_again_until_the_lease_ends(lti):
    lti.queue_score("hw1", "s1", 5, 8)
    [first] = lti.lease_due(lease_seconds=60)
    assert lti.lease_due() == []
    lti.mark_retry(first, "down", 0.0)           # retried now: the lease is given back
    [again] = lti.lease_due()
    assert again.tries == 1 and again.last_error == "down"


def test_a_score_sent_while_a_newer_one_came_in_stays_owed(lti):
    lti.queue_score("hw1", "s1", 5, 8)
    [leased] = lti.lease_due()
    time.sleep(1.1)                               # updated_at has one-second steps
    lti.queue_score("hw1", "s1", 8, 8)
    lti.mark_sent(leased)
    [owed] = lti.scores()
    assert (owed.score, owed.status) == (8, PENDING_SCORE)
    [newer] = lti.lease_due()
    lti.mark_sent(newer)
    assert lti.scores()[0].status == SENT


def test_a_held_score_is_not_due_before_its_time(app, lti):
    held = time.time() + 3600
    lti.queue_score("hw1", "s1", 5, 8, not_before=held)
    assert lti.lease_due() == []
    assert sql(app, "SELECT next_try_at FROM lti_scores") == [(pytest.approx(held),)]


def test_the_retry_schedule_doubles_up_to_its_cap_then_gives_up(app, lti):
    sender = ScoreSender(lti, retry_base=10, max_delay=60, max_tries=5)
    lti.queue_score("hw1", "s1", 5, 8)
    delays = []
    for _ in range(5):
        [owed] = lti.scores()
        before = time.time()
        if sender._failed(owed, "503", permanent=False) == "failed":
            break
        delays.append(round(sql(app, "SELECT next_try_at FROM lti_scores")[0][0] - before))
    assert delays == [10, 20, 40, 60]
    [owed] = lti.scores()
    assert (owed.status, owed.tries, owed.last_error) == (FAILED, 5, "503")
    assert lti.retry_failed() == 1 and lti.scores()[0].status == PENDING_SCORE


def test_a_permanent_refusal_fails_at_once_and_retry_after_is_honoured(lti):
    sender = ScoreSender(lti, retry_base=1, max_delay=3600)
    lti.queue_score("hw1", "s1", 5, 8)
    [owed] = lti.scores()
    assert sender._failed(owed, "429", permanent=False, retry_after=120) == "retry"
    assert lti.lease_due() == []                  # not before two minutes
    [owed] = lti.scores()
    assert sender._failed(owed, "422", permanent=True) == "failed"
    assert lti.scores()[0].status == FAILED


def test_a_nonce_is_good_once(lti):
    data = StoreLaunchData(lti)
    data.set_value("lti1p3-nonce-abc", True, 60)
    assert data.check_value("lti1p3-nonce-abc") is True
    assert data.check_value("lti1p3-nonce-abc") is False
    data.set_value("lti1p3-launch-1", {"sub": "x"}, 60)
    assert data.get_value("lti1p3-launch-1") == {"sub": "x"}
    assert data.check_value("lti1p3-launch-1") and data.check_value("lti1p3-launch-1")
    data.set_value("lti1p3-launch-2", {"sub": "y"}, -1)          # expired
    assert data.get_value("lti1p3-launch-2") is None


def test_removing_a_platform_removes_its_users_links_launches_and_scores(app, lti):
    lti.queue_score("hw1", "s1", 5, 8)
    [platform] = lti.platforms()
    assert lti.remove(platform.id) and lti.scores() == [] and lti.links() == []
    for table in ("lti_users", "lti_links", "lti_launches", "lti_scores"):
        assert sql(app, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert sql(app, "SELECT id FROM students") == [("s1",)]     # the student and their work stay
    assert not lti.remove(platform.id)


# --------------------------------------------------------------- over many inputs
FIELDS = st.dictionaries(
    st.sampled_from(["name", "issuer", "client_id", "auth_login_url", "auth_token_url",
                     "key_set_url", "deployment_ids", "deployment_id", "extra"]),
    st.one_of(st.text(max_size=30), st.just("https://lms.example.edu/x"),
              st.lists(st.text(max_size=8), max_size=3), st.integers(), st.none()))


@settings(max_examples=300, deadline=None)
@given(FIELDS)
def test_a_platform_is_accepted_whole_or_refused_with_a_course_error(data):
    try:
        checked = check_platform(data)
    except CourseError as err:
        assert str(err)
        return
    assert set(checked) == {"name", "issuer", "client_id", "auth_login_url",
                            "auth_token_url", "key_set_url", "deployment_ids"}
    assert checked["deployment_ids"] and all(i.strip() == i for i in checked["deployment_ids"])
    for name in ("issuer", "auth_login_url", "auth_token_url", "key_set_url"):
        assert checked[name].startswith(("https://", "http://"))


ROLE = st.sampled_from([
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Guest"])
STAFF = st.sampled_from([
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"])


@given(st.lists(ROLE, max_size=4), st.lists(STAFF, max_size=2))
def test_staff_is_any_managing_role_and_only_that(learner_roles, staff_roles):
    assert is_staff(learner_roles + staff_roles) == bool(staff_roles)


@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(
    ["https://a.edu/x", "http://b.edu:8080/y", "javascript:alert(1)", "https://a.edu/z",
     "https://a.edu;script-src *", "https://a.edu 'unsafe-inline'/"])),
    max_size=3))
def test_frame_origins_are_web_origins_only(urls):
    claims = {"iss": urls[0] if urls else None,
              "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
                  "return_url": urls[1] if len(urls) > 1 else None}}
    origins = frame_origins(claims)
    assert len(origins) == len(set(origins))
    for origin in origins:
        assert origin.startswith(("https://", "http://")) and origin.count("/") == 2
        assert not set(origin) & set(" ;'*,")      # nothing that would change the header
