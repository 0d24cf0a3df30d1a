"""The grader as an LTI 1.3 tool, on pylti1p3 (the protocol's checks are the library's; this
module feeds it our records): the tool's key pair and JWKS, the registered platforms as a
pylti1p3 tool configuration, pylti1p3's launch data kept in the database, and the sender that
posts owed scores to each LMS's Assignment and Grade Services with retries.

Nothing here knows Flask; the routes are ``grader.web.lti``'s.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from datetime import UTC, datetime

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.tool_config.abstract import ToolConfAbstract

from .ltistore import LtiStore, OwedScore, Platform
from .storage import Store

log = logging.getLogger(__name__)

TOOL_KEY_SETTING = "lti_tool_private_key"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
# An LMS that answers one of these will answer it again: the score is marked failed at once.
PERMANENT_STATUSES = {400, 403, 404, 405, 409, 410, 415, 422}
HTTP_TIMEOUT = 15.0


# ------------------------------------------------------------------------- the tool's key
def tool_private_key(store: Store) -> str:
    """The tool's RSA private key (PEM), made at first use and kept in the settings, so every
    web process signs with the same key."""
    def make() -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode("ascii")
    return store.setting_or_create(TOOL_KEY_SETTING, make)[0]


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo
                                         ).decode("ascii")


def tool_jwks(store: Store) -> dict:
    """The tool's public key set, as the LMS fetches it from ``/lti/jwks``."""
    return {"keys": [dict(Registration.get_jwk(public_pem(tool_private_key(store))))]}


def registration(platform: Platform, private_pem: str) -> Registration:
    """A pylti1p3 registration of ``platform``, signing with the tool's key."""
    return (Registration().set_issuer(platform.issuer).set_client_id(platform.client_id)
            .set_auth_login_url(platform.auth_login_url)
            .set_auth_token_url(platform.auth_token_url)
            .set_key_set_url(platform.key_set_url)
            .set_tool_private_key(private_pem).set_tool_public_key(public_pem(private_pem)))


class StoreToolConf(ToolConfAbstract):
    """pylti1p3's tool configuration, read from the registered platforms. One issuer may
    have several client ids (one per registration), so lookups go by issuer and client id."""

    def __init__(self, lti: LtiStore):
        self.lti = lti
        self._private_pem: str | None = None
        self.issuers_relation_types = {}

    def private_pem(self) -> str:
        if self._private_pem is None:
            self._private_pem = tool_private_key(self.lti.store)
        return self._private_pem

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def platform(self, iss: str, client_id: str | None) -> Platform | None:
        """The platform of ``iss`` and ``client_id`` (without a client id: the only one)."""
        found = self.lti.find(iss, client_id or None)
        return found[0] if len(found) == 1 else None

    def find_registration_by_issuer(self, iss: str, *args, **kwargs) -> Registration:
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(self, iss: str, client_id: str | None, *args,
                                    **kwargs) -> Registration:
        platform = self.platform(iss, client_id)
        if platform is None:
            return None  # type: ignore[return-value]  # pylti1p3 checks for a falsy result
        return registration(platform, self.private_pem())

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str | None,
                                  *args, **kwargs) -> Deployment | None:
        platform = self.platform(iss, client_id)
        if platform is None or deployment_id not in platform.deployment_ids:
            return None
        return Deployment().set_deployment_id(deployment_id)


class StoreLaunchData(LaunchDataStorage[t.Any]):
    """pylti1p3's launch data (the OIDC nonce, a launch kept for deep linking) in the
    database rather than the session: the LMS posts the launch cross-site, where a
    ``SameSite=Lax`` session cookie is not sent. A nonce is good for one launch."""

    _session_cookie_name = None  # type: ignore[assignment]  # keys are random: no session id

    def __init__(self, lti: LtiStore):
        super().__init__()
        self.lti = lti

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> t.Any:
        return self.lti.get_data(self._prepare_key(key))

    def set_value(self, key: str, value: t.Any, exp: int | None = None) -> None:
        self.lti.put_data(self._prepare_key(key), value, float(exp or 86400))

    def check_value(self, key: str) -> bool:
        return self.lti.get_data(self._prepare_key(key), take="-nonce-" in key) is not None


# ------------------------------------------------------------------ sending the scores
def score_timestamp() -> str:
    """Now, as AGS wants it (ISO 8601 with milliseconds and a zone)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ScoreSender:
    """Posts owed scores to the LMSs, from a daemon thread (``start``) or at once
    (``send_due``). A failure the LMS may get over (it is down, 5xx, 429, a timeout) is
    retried after ``retry_base`` × 2^tries seconds (at most an hour, or as ``Retry-After``
    says), up to ``max_tries``; a refusal that will not change (400, 403, 404, 409, 422) or
    too many tries leaves the score failed, shown on the instructor's LTI page."""

    def __init__(self, lti: LtiStore, *, interval: float = 5.0, retry_base: float = 30.0,
                 max_delay: float = 3600.0, max_tries: int = 20):
        self.lti = lti
        self.tool = StoreToolConf(lti)
        self.interval = interval
        self.retry_base = retry_base
        self.max_delay = max_delay
        self.max_tries = max_tries
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        """Run in a daemon thread (at the app's start when a platform is registered, else
        at the first score queued)."""
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lti-score-sender",
                                                daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        """A score was queued: look at the outbox now rather than at the next interval."""
        self.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
            except Exception:  # the database is away: the rows wait in the outbox
                log.exception("sending LMS scores failed; trying again shortly")
            self._wake.wait(self.interval)
            self._wake.clear()

    def send_due(self) -> dict[str, int]:
        """Post every score due now; returns how many were sent, retried and failed."""
        counts = {"sent": 0, "retry": 0, "failed": 0}
        connectors: dict[int, ServiceConnector] = {}
        while True:
            batch = self.lti.lease_due()
            if not batch:
                return counts
            for owed in batch:
                counts[self._send(owed, connectors)] += 1

    def _send(self, owed: OwedScore, connectors: dict[int, ServiceConnector]) -> str:
        platform = self.lti.platform(owed.link.platform_id)
        if platform is None:
            self.lti.mark_retry(owed, "the platform is no longer registered", None)
            return "failed"
        if not owed.link.lineitem:
            self.lti.mark_retry(owed, "the LMS gave this link no line item (make the activity "
                                      "a graded one in the LMS, then launch it again)", None)
            return "failed"
        if SCOPE_SCORE not in owed.link.scopes:
            self.lti.mark_retry(owed, "the LMS did not grant the score scope for this link",
                                None)
            return "failed"
        connector = connectors.get(platform.id)
        if connector is None:
            session = requests.Session()
            session.request = _with_timeout(session.request)  # type: ignore[method-assign]
            connector = ServiceConnector(registration(platform, self.tool.private_pem()),
                                         session)
            connectors[platform.id] = connector
        grade = (Grade().set_score_given(owed.score).set_score_maximum(owed.max_score)
                 .set_activity_progress("Submitted").set_grading_progress("FullyGraded")
                 .set_timestamp(score_timestamp()).set_user_id(owed.sub))
        service_data: t.Any = {"scope": list(owed.link.scopes), "lineitem": owed.link.lineitem}
        ags = AssignmentsGradesService(connector, service_data)
        try:
            ags.put_grade(grade)
        except LtiServiceException as err:
            status = err.response.status_code
            retry_after = _retry_after(err.response.headers.get("Retry-After"))
            return self._failed(owed, f"the LMS answered {status}: "
                                      f"{err.response.text[:500]}",
                                permanent=status in PERMANENT_STATUSES,
                                retry_after=retry_after)
        except (requests.RequestException, LtiException, ValueError) as err:
            connectors.pop(platform.id, None)
            return self._failed(owed, f"could not reach the LMS: {err}", permanent=False)
        self.lti.mark_sent(owed)
        return "sent"

    def _failed(self, owed: OwedScore, error: str, *, permanent: bool,
                retry_after: float | None = None) -> str:
        if permanent or owed.tries + 1 >= self.max_tries:
            self.lti.mark_retry(owed, error, None)
            log.warning("LMS score for %s on link %s failed: %s", owed.student_id,
                        owed.link.resource_link_id, error)
            return "failed"
        delay = min(self.retry_base * 2 ** owed.tries, self.max_delay)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        self.lti.mark_retry(owed, error, delay)
        return "retry"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _with_timeout(request):
    def call(*args, **kwargs):
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return request(*args, **kwargs)
    return call
