"""LTI 1.3's records in the service's store: the platforms (LMSs) registered with the tool,
the resource links that point at an assignment, who launched each link, pylti1p3's short-lived
launch data, and the outbox of scores owed to the LMS.

The outbox keeps one row per (link, student): a newer counting score replaces one not yet
sent. A sender leases due rows (``lease_until``), so several web processes never post the same
row at once, then marks each sent or schedules its retry (``grader.web.ltitool.ScoreSender``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from ..course import iso
from ..errors import CourseError
from .coursestore import now_utc
from .schema import (
    lti_launch_data,
    lti_launches,
    lti_links,
    lti_platforms,
    lti_scores,
)
from .storage import Store

# A platform's fields, as an administrator copies them from the LMS.
PLATFORM_FIELDS = ("name", "issuer", "client_id", "auth_login_url", "auth_token_url",
                   "key_set_url")
SENT, PENDING_SCORE, FAILED = "sent", "pending", "failed"


@dataclass(frozen=True)
class Platform:
    """A registered LMS: its issuer, the client id it gave the tool, its endpoints and the
    deployment ids the tool accepts from it."""

    id: int
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...]
    created_at: str

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "issuer": self.issuer,
                "client_id": self.client_id, "auth_login_url": self.auth_login_url,
                "auth_token_url": self.auth_token_url, "key_set_url": self.key_set_url,
                "deployment_ids": list(self.deployment_ids), "created_at": self.created_at}


@dataclass(frozen=True)
class Link:
    """A resource link of a platform, bound to an assignment; its AGS line item and scopes."""

    id: int
    platform_id: int
    deployment_id: str
    resource_link_id: str
    assignment_id: str
    lineitem: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class OwedScore:
    """A row of the outbox, with what posting it needs."""

    id: int
    link: Link
    student_id: str
    sub: str
    score: float
    max_score: float
    status: str
    tries: int
    last_error: str | None
    updated_at: str
    sent_at: str | None


def check_platform(data: dict) -> dict:
    """The platform fields of ``data``, checked: a ``CourseError`` names the field at fault."""
    unknown = sorted(set(data) - set(PLATFORM_FIELDS) - {"deployment_ids", "deployment_id"})
    if unknown:
        raise CourseError(f"unknown platform field(s) {', '.join(unknown)}; the fields are "
                          f"{', '.join(PLATFORM_FIELDS)} and deployment_ids (or one "
                          "deployment_id)")
    out: dict = {}
    for name in PLATFORM_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise CourseError(f'the platform needs "{name}"')
        value = value.strip()
        if len(value) > 2000:
            raise CourseError(f'"{name}" is longer than 2000 characters')
        if name not in ("name", "client_id"):
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise CourseError(f'"{name}" must be an https:// URL; got {value[:80]!r}')
        out[name] = value
    ids = data.get("deployment_ids", [])
    if isinstance(ids, str):
        ids = re.split(r"[\s,]+", ids)
    if isinstance(data.get("deployment_id"), str) and isinstance(ids, (list, tuple)):
        ids = [data["deployment_id"], *ids]
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) for i in ids):
        raise CourseError('"deployment_ids" must be a list of strings (or one per line)')
    ids = [i.strip() for i in ids if i.strip()]
    if not ids:
        raise CourseError('the platform needs at least one deployment id ("deployment_ids"): '
                          "the LMS shows it when the tool is deployed")
    out["deployment_ids"] = list(dict.fromkeys(ids))
    return out


class LtiStore:
    """LTI records in ``store``'s database (SQLite or PostgreSQL)."""

    def __init__(self, store: Store):
        self.store = store

    # ----------------------------------------------------------------- platforms
    def register(self, data: dict, platform_id: int | None = None) -> Platform:
        """Register a platform (or replace platform ``platform_id``'s fields)."""
        fields = check_platform(data)
        values = {**fields, "deployment_ids": json.dumps(fields["deployment_ids"])}
        try:
            with self.store._transaction() as db:
                if platform_id is None:
                    platform_id = db.execute(lti_platforms.insert().values(
                        **values, created_at=iso(now_utc())).returning(lti_platforms.c.id)
                    ).scalar_one()
                else:
                    done = db.execute(lti_platforms.update().where(
                        lti_platforms.c.id == platform_id).values(**values))
                    if done.rowcount == 0:
                        raise CourseError(f"no platform {platform_id}")
        except sa.exc.IntegrityError:
            raise CourseError(f"a platform with issuer {fields['issuer']} and client id "
                              f"{fields['client_id']} is registered already") from None
        found = self.platform(platform_id)
        assert found is not None
        return found

    def platforms(self) -> list[Platform]:
        with self.store._connect() as db:
            rows = db.execute(sa.select(lti_platforms).order_by(lti_platforms.c.id)).all()
        return [_platform(r) for r in rows]

    def platform(self, platform_id: int) -> Platform | None:
        with self.store._connect() as db:
            row = db.execute(sa.select(lti_platforms).where(lti_platforms.c.id == platform_id)
                             ).first()
        return _platform(row) if row is not None else None

    def find(self, issuer: str, client_id: str | None = None) -> list[Platform]:
        """The platforms with this issuer (and this client id, when given)."""
        query = sa.select(lti_platforms).where(lti_platforms.c.issuer == issuer)
        if client_id is not None:
            query = query.where(lti_platforms.c.client_id == client_id)
        with self.store._connect() as db:
            return [_platform(r) for r in db.execute(query.order_by(lti_platforms.c.id))]

    def remove(self, platform_id: int) -> bool:
        """Unregister a platform; its users, links, launches and owed scores go with it (the
        foreign keys cascade)."""
        with self.store._transaction() as db:
            return db.execute(lti_platforms.delete().where(
                lti_platforms.c.id == platform_id)).rowcount > 0

    # --------------------------------------------------------------------- links
    def link(self, platform_id: int, resource_link_id: str) -> Link | None:
        with self.store._connect() as db:
            row = db.execute(sa.select(lti_links).where(
                (lti_links.c.platform_id == platform_id)
                & (lti_links.c.resource_link_id == resource_link_id))).first()
        return _link(row) if row is not None else None

    def links(self, assignment_id: str | None = None) -> list[Link]:
        query = sa.select(lti_links).order_by(lti_links.c.id)
        if assignment_id is not None:
            query = query.where(lti_links.c.assignment_id == assignment_id)
        with self.store._connect() as db:
            return [_link(r) for r in db.execute(query)]

    def bind_link(self, platform_id: int, deployment_id: str, resource_link_id: str,
                  assignment_id: str, lineitem: str | None, scopes: list[str]) -> Link:
        """Record a resource link and the assignment it opens; a later launch refreshes its
        line item and scopes (an LMS may add a line item after the link was made)."""
        values = {"deployment_id": deployment_id, "assignment_id": assignment_id,
                  "scopes": json.dumps(sorted(set(scopes)))}
        with self.store._transaction() as db:
            db.execute(self.store._insert(lti_links).values(
                platform_id=platform_id, resource_link_id=resource_link_id, lineitem=lineitem,
                created_at=iso(now_utc()), **values).on_conflict_do_update(
                    index_elements=["platform_id", "resource_link_id"],
                    set_={**values, "lineitem": sa.func.coalesce(
                        sa.literal(lineitem, sa.Text), lti_links.c.lineitem)}))
        found = self.link(platform_id, resource_link_id)
        assert found is not None
        return found

    def launched(self, link: Link, student_id: str, sub: str) -> None:
        """Record that ``student_id`` (the LMS's user ``sub``) launched ``link``."""
        stamp = iso(now_utc())
        with self.store._transaction() as db:
            db.execute(self.store._insert(lti_launches).values(
                link_id=link.id, student_id=student_id, sub=sub, launched_at=stamp)
                .on_conflict_do_update(index_elements=["link_id", "student_id"],
                                       set_={"sub": sub, "launched_at": stamp}))

    # ------------------------------------------------------------ the score outbox
    def queue_score(self, assignment_id: str, student_id: str, score: float,
                    max_score: float, not_before: float = 0.0) -> int:
        """Owe the LMS this score on every link of the assignment the student launched;
        ``not_before`` (a UNIX time) holds it back until then. Returns how many rows."""
        now = time.time()
        stamp = iso(now_utc())
        owed = {"score": float(score), "max_score": float(max_score), "status": PENDING_SCORE,
                "tries": 0, "next_try_at": max(now, not_before), "last_error": None,
                "updated_at": stamp}
        with self.store._transaction() as db:
            link_ids = db.execute(sa.select(lti_launches.c.link_id).join(
                lti_links, lti_links.c.id == lti_launches.c.link_id).where(
                (lti_links.c.assignment_id == assignment_id)
                & (lti_launches.c.student_id == student_id))).scalars().all()
            for link_id in link_ids:
                db.execute(self.store._insert(lti_scores).values(
                    link_id=link_id, student_id=student_id, **owed).on_conflict_do_update(
                        index_elements=["link_id", "student_id"], set_=owed))
        return len(link_ids)

    def lease_due(self, limit: int = 20, lease_seconds: float = 60.0) -> list[OwedScore]:
        """Claim up to ``limit`` pending rows whose time has come, for ``lease_seconds``."""
        now = time.time()
        with self.store._transaction() as db:
            self.store._lock(db, "lti_scores")
            ids = db.execute(sa.select(lti_scores.c.id).where(
                (lti_scores.c.status == PENDING_SCORE) & (lti_scores.c.next_try_at <= now)
                & (lti_scores.c.lease_until <= now)).order_by(lti_scores.c.next_try_at)
                .limit(limit)).scalars().all()
            if ids:
                db.execute(lti_scores.update().where(lti_scores.c.id.in_(ids))
                           .values(lease_until=now + lease_seconds))
        return self._owed(lti_scores.c.id.in_(ids)) if ids else []

    def scores(self, status: str | None = None) -> list[OwedScore]:
        """The outbox, newest first (``status``: pending, sent or failed)."""
        return self._owed(lti_scores.c.status == status if status else sa.true())

    def mark_sent(self, owed: OwedScore) -> None:
        """The LMS took the score. A newer score queued meanwhile stays pending."""
        self._settle(owed, status=SENT, sent_at=iso(now_utc()), last_error=None)

    def mark_retry(self, owed: OwedScore, error: str, delay: float | None) -> None:
        """Posting failed: try again after ``delay`` seconds, or (None) give up: failed."""
        values: dict = {"tries": owed.tries + 1, "last_error": error[:2000]}
        if delay is None:
            values["status"] = FAILED
        else:
            values["next_try_at"] = time.time() + delay
        self._settle(owed, **values)

    def _settle(self, owed: OwedScore, **values) -> None:
        """End ``owed``'s lease with ``values`` if the row still holds the score it was
        leased with; if a newer score came in meanwhile, only end the lease, so the newer one
        is due now rather than when the lease runs out."""
        same = ((lti_scores.c.id == owed.id) & (lti_scores.c.updated_at == owed.updated_at)
                & (lti_scores.c.score == owed.score)
                & (lti_scores.c.status == PENDING_SCORE))
        with self.store._transaction() as db:
            done = db.execute(lti_scores.update().where(same).values(lease_until=0, **values))
            if done.rowcount == 0:
                db.execute(lti_scores.update().where(lti_scores.c.id == owed.id)
                           .values(lease_until=0))

    def retry_failed(self) -> int:
        """Put every failed row back in the outbox, due now; returns how many."""
        with self.store._transaction() as db:
            return db.execute(lti_scores.update().where(lti_scores.c.status == FAILED).values(
                status=PENDING_SCORE, tries=0, next_try_at=time.time(), lease_until=0)
            ).rowcount

    def _owed(self, where) -> list[OwedScore]:
        query = (sa.select(lti_scores, lti_launches.c.sub, lti_links)
                 .join(lti_links, lti_links.c.id == lti_scores.c.link_id)
                 .join(lti_launches, (lti_launches.c.link_id == lti_scores.c.link_id)
                       & (lti_launches.c.student_id == lti_scores.c.student_id))
                 .where(where).order_by(lti_scores.c.id.desc()))
        with self.store._connect() as db:
            rows = db.execute(query).all()
        out = []
        for r in rows:
            m = r._mapping
            link = Link(m[lti_links.c.id], m[lti_links.c.platform_id],
                        m[lti_links.c.deployment_id], m[lti_links.c.resource_link_id],
                        m[lti_links.c.assignment_id], m[lti_links.c.lineitem],
                        tuple(json.loads(m[lti_links.c.scopes])))
            out.append(OwedScore(m[lti_scores.c.id], link, m[lti_scores.c.student_id],
                                 m[lti_launches.c.sub], m[lti_scores.c.score],
                                 m[lti_scores.c.max_score], m[lti_scores.c.status],
                                 m[lti_scores.c.tries], m[lti_scores.c.last_error],
                                 m[lti_scores.c.updated_at], m[lti_scores.c.sent_at]))
        return out

    # ---------------------------------------------------------------- launch data
    def put_data(self, key: str, value: object, lifetime: float) -> None:
        expires = time.time() + lifetime
        text = json.dumps(value)
        with self.store._transaction() as db:
            db.execute(lti_launch_data.delete().where(lti_launch_data.c.expires_at < time.time()))
            db.execute(self.store._insert(lti_launch_data).values(
                key=key, value=text, expires_at=expires).on_conflict_do_update(
                    index_elements=["key"], set_={"value": text, "expires_at": expires}))

    def get_data(self, key: str, take: bool = False) -> object | None:
        """The live value of ``key``; ``take``: and delete it (a nonce is good once)."""
        with self.store._transaction() as db:
            row = db.execute(sa.select(lti_launch_data.c.value).where(
                (lti_launch_data.c.key == key)
                & (lti_launch_data.c.expires_at >= time.time()))).first()
            if take:
                db.execute(lti_launch_data.delete().where(lti_launch_data.c.key == key))
        return json.loads(row.value) if row is not None else None


def _platform(row) -> Platform:
    return Platform(row.id, row.name, row.issuer, row.client_id, row.auth_login_url,
                    row.auth_token_url, row.key_set_url, tuple(json.loads(row.deployment_ids)),
                    row.created_at)


def _link(row) -> Link:
    return Link(row.id, row.platform_id, row.deployment_id, row.resource_link_id,
                row.assignment_id, row.lineitem, tuple(json.loads(row.scopes)))
