"""The LTI 1.3 tool, without the web framework: signing keys and their JWKS, the OIDC login, launch
verification, deep-linking responses, and the pseudonymous launch session the chat runs under.

Keys: the private keys are PEM files (0600) in `<data_dir>/lti/`, one per key id; the records
database lists which are current and which are retired but still published (`rotate`). A second
file there, `session.key`, keys the hash that derives user pseudonyms, so pseudonyms survive key
rotation. Replicas share the data dir (or a copy of `lti/`) and the records database.

A launch session is a token signed with the one secret (bot.web.signing), carried in the chat URL
(`?lti=`), not a cookie: inside a portal's iframe third-party cookies are often blocked. It names
the pseudonymous user (a keyed hash of `iss` and `sub`, never the platform's own ids), the case,
the platform and course it was launched from, and whether the user is an instructor. With
CASEBOT_ACCESS=lti it is what lets a student read the case; it also attributes the questions.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.errors import DatabaseError, LtiError
from bot.lti import models as records
from bot.records.schema import Schema
from bot.web.signing import LAUNCH_SESSION, Signer

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger("casebot.lti")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
MESSAGE_TYPE = CLAIM + "message_type"
VERSION = CLAIM + "version"
DEPLOYMENT_ID = CLAIM + "deployment_id"
TARGET_LINK_URI = CLAIM + "target_link_uri"
ROLES = CLAIM + "roles"
CUSTOM = CLAIM + "custom"
RESOURCE_LINK = CLAIM + "resource_link"
CONTEXT = CLAIM + "context"
DEEP_LINKING_SETTINGS = DL_CLAIM + "deep_linking_settings"
CONTENT_ITEMS = DL_CLAIM + "content_items"
DL_DATA = DL_CLAIM + "data"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"

# LIS roles that see the instructor dashboard: context roles (membership#...) and the
# institution-wide administrator role (institution/person#Administrator, system/person#Administrator).
INSTRUCTOR_ROLES = ("Instructor", "TeachingAssistant", "Administrator")

LEEWAY_S = 60             # clock skew allowed on exp/iat/nbf
MAX_TOKEN_AGE_S = 3600    # an id_token issued longer ago than this is refused even if not expired
STATE_TTL = timedelta(minutes=10)
NONCE_TTL = timedelta(hours=2)
DEEP_LINK_TTL = timedelta(hours=1)
SESSION_TTL_S = 8 * 3600
TICKET_TTL = timedelta(hours=8)
DEFAULT_GRACE = timedelta(days=7)
_ORIGINS_CACHE_S = 30.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    """Write a new file readable by its owner only (created 0600, never widened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class ToolKeys:
    """The tool's RS256 signing keys: files in `directory`, metadata in the records database."""

    def __init__(self, directory: Path, engine: Engine) -> None:
        self.directory = Path(directory)
        self.engine = engine
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    def _new_key(self) -> str:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = jwk_thumbprint(key.public_key())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self._ensure_dir()
        path = self.directory / f"{kid}.pem"
        # The file first, so that a replica finding the key listed also finds its file; and gone
        # again when the database refuses the key (down, full), so no orphan key is left behind.
        _write_private(path, pem)
        try:
            records.add_tool_key(self.engine, kid)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self._loaded[kid] = key
        return kid

    def _private(self, kid: str) -> Any:
        from cryptography.hazmat.primitives import serialization

        if kid not in self._loaded:
            path = self.directory / f"{kid}.pem"
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise LtiError(500, f"The LTI signing key file {path} is missing: copy the data dir's "
                               "lti/ folder to every replica, or run `casebot lti rotate-key`.") from None
            self._loaded[kid] = serialization.load_pem_private_key(data, password=None)
        return self._loaded[kid]

    def current(self) -> tuple[str, Any]:
        """(kid, private key) of the key that signs now; created on first use."""
        with self._lock:
            live = [k for k in records.tool_keys(self.engine) if k.retired_until is None]
            kid = live[0].kid if live else self._new_key()
            return kid, self._private(kid)

    def rotate(self, grace: timedelta = DEFAULT_GRACE) -> tuple[str, list[str]]:
        """A new signing key; older ones stay in the JWKS for `grace`. Returns (new kid, retired)."""
        with self._lock:
            kid = self._new_key()
            return kid, records.retire_tool_keys(self.engine, kid, grace)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set: the current key (created if none) and those in grace."""
        from jwt.algorithms import RSAAlgorithm

        self.current()
        keys = []
        for info in records.tool_keys(self.engine):
            try:
                public = self._private(info.kid).public_key()
            except LtiError:
                continue
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
            # `use` rather than `key_ops`: RFC 7517 says not both, and platforms look for `use`.
            jwk.pop("key_ops", None)
            keys.append({**jwk, "kid": info.kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def session_secret(self) -> bytes:
        """The key of the user pseudonyms (created on first use, 0600)."""
        path = self.directory / "session.key"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        self._ensure_dir()
        with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
            _write_private(path, secrets.token_bytes(32))
        return path.read_bytes()


def jwk_thumbprint(public_key: Any) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA public key, base64url: a stable key id."""
    numbers = public_key.public_numbers()

    def b64int(value: int) -> str:
        return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    canonical = json.dumps({"e": b64int(numbers.e), "kty": "RSA", "n": b64int(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def is_instructor_role(role: str) -> bool:
    """Whether a LIS role URI (or a short context role name) may see the instructor dashboard.

    Only roles in the course (context) count, plus administrators: Canvas also sends institution
    roles, and a student who teaches elsewhere is `institution/person#Instructor` in every course.
    """
    tail = role.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    if role in INSTRUCTOR_ROLES or "/membership" in role:
        return tail in INSTRUCTOR_ROLES
    if "/institution/person#" in role or "/system/person#" in role:
        return tail == "Administrator"
    return False


@dataclass(frozen=True)
class Launch:
    """A verified LTI message: who launched, from where, and what they asked for."""

    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    user: str | None          # pseudonym: keyed hash of iss + sub; None for an anonymous launch
    roles: tuple[str, ...]
    custom: dict[str, Any] = field(default_factory=dict)
    target_link_uri: str = ""
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def instructor(self) -> bool:
        """True for the context roles Instructor, TeachingAssistant or Administrator, or an
        institution or system Administrator."""
        return any(is_instructor_role(role) for role in self.roles)

    @property
    def course(self) -> str:
        """The LTI context (course) id the launch came from; "" when the platform sent none."""
        context = self.claims.get(CONTEXT)
        return str(context.get("id", "") or "") if isinstance(context, dict) else ""

    def case_id(self) -> str:
        """The case asked for: custom parameter `case`, else `?case=` of the target link URI."""
        custom = str(self.custom.get("case", "") or "").strip()
        if custom and not custom.startswith("$"):  # "$Canvas.x" is an unsubstituted variable
            return custom
        return parse_qs(urlsplit(self.target_link_uri).query).get("case", [""])[0].strip()


@dataclass(frozen=True)
class LtiUser:
    """The pseudonymous LTI user of a chat, read from its launch session."""

    user: str
    case_id: str
    instructor: bool
    expires: float
    platform: str = ""
    course: str = ""

    @property
    def rate_key(self) -> str:
        """The key the rate limiter and the records count this user under."""
        return f"lti:{self.user}"


class LtiTool:
    """The tool side of LTI 1.3 over one records database and one key directory."""

    def __init__(self, engine: Engine, keys: ToolKeys, *, secret: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.keys = keys
        self.clock = clock
        self.secret = secret
        self._sessions = Signer(secret, LAUNCH_SESSION, clock)
        # A kid missing from the cached platform key set triggers a refetch, at most this often.
        self.jwks_cooldown_s = 5.0
        self._jwk_clients: dict[str, Any] = {}
        from cachetools import TTLCache

        # Every framed page asks for the platforms' origins: read from the database at most once
        # in _ORIGINS_CACHE_S; the last ones read stand in while the database is down.
        self._origins: TTLCache[str, tuple[str, ...]] = TTLCache(1, _ORIGINS_CACHE_S)
        self._known_origins: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._logins = 0
        self.schema = Schema(engine)
        try:
            # Upgraded at start when the database is up; when it is down the server starts
            # anyway and each LTI request tries again (503 until it works).
            records.purge_expired(self.database())
        except DatabaseError as error:
            log.error("the records database is not usable for LTI yet (%s): LTI requests get 503 "
                      "until it is", error)

    def database(self) -> Engine:
        """The records engine, its schema upgraded (tried again here until it works);
        DatabaseError when the database is down."""
        return self.schema.ready()

    def jwks(self) -> dict[str, Any]:
        """The tool's public keys (ToolKeys.jwks) once the schema is current; DatabaseError when
        the database cannot be read or, for a first key, written."""
        self.database()
        return self.keys.jwks()

    # ---- login -----------------------------------------------------------------------------
    def login(self, params: Mapping[str, str], root_path: str = "", host: str | None = None) -> str:
        """The platform authorization URL to redirect a third-party initiated login to.

        `host` is the host this request reached: the target link URI must point there.
        """
        issuer = params.get("iss", "").strip()
        login_hint = params.get("login_hint", "").strip()
        target = params.get("target_link_uri", "").strip()
        missing = [n for n, v in (("iss", issuer), ("login_hint", login_hint),
                                  ("target_link_uri", target)) if not v]
        if missing:
            raise LtiError(400, f"The login request lacks {', '.join(missing)}: it must come from a "
                           "course platform starting an LTI 1.3 launch.")
        client_id = params.get("client_id", "").strip() or None
        try:
            registration = records.find_platform(self.database(), issuer, client_id)
        except records.RegistrationError as error:
            raise LtiError(400, str(error)) from None
        deployment = params.get("lti_deployment_id", "").strip()
        if deployment and deployment not in registration.deployment_ids:
            raise LtiError(400, f"Deployment {deployment!r} of {issuer} is not registered. Add it with "
                           f"`casebot lti add-platform ... --deployment-id {deployment}`.")
        origin = records.url_origin(target)
        if not origin:
            raise LtiError(400, f"target_link_uri {target!r} is not an absolute URL.")
        if host and (urlsplit(target).hostname or "").lower() != host.lower():
            raise LtiError(400, f"target_link_uri {target!r} does not point at this tool ({host}).")
        # Built from the target link URI, not from this request: behind a TLS-terminating proxy the
        # request looks like plain http, but the platform compares with the registered https URI.
        redirect_uri = f"{origin}{root_path.rstrip('/')}/lti/launch"
        self._logins += 1
        if self._logins % 256 == 0:  # spent states and nonces go now and then, not on every login
            records.purge_expired(self.database())
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        records.save_state(self.database(), records.LoginState(state, nonce, issuer, registration.client_id),
                           STATE_TTL)
        query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                 "prompt": "none", "client_id": registration.client_id, "redirect_uri": redirect_uri,
                 "login_hint": login_hint, "state": state, "nonce": nonce}
        if params.get("lti_message_hint"):
            query["lti_message_hint"] = params["lti_message_hint"]
        url = registration.auth_login_url
        return url + ("&" if "?" in url else "?") + urlencode(query)

    # ---- launch ----------------------------------------------------------------------------
    def _signing_key(self, registration: records.Registration, kid: str) -> Any:
        import jwt

        with self._lock:
            client = self._jwk_clients.get(registration.jwks_url)
            if client is None:
                # Cached per URL; PyJWKClient refetches the set once when a kid is not in it.
                client = jwt.PyJWKClient(registration.jwks_url, cache_keys=True, lifespan=300, timeout=10,
                                         cooldown_duration=self.jwks_cooldown_s)
                self._jwk_clients[registration.jwks_url] = client
        try:
            return client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as error:
            raise LtiError(502, f"Could not fetch the platform's keys from {registration.jwks_url}: "
                           f"{error}") from None
        except jwt.PyJWKClientError:
            raise LtiError(401, f"The id_token is signed with key id {kid!r}, which the platform's "
                           f"key set at {registration.jwks_url} does not hold.") from None

    def verify_launch(self, id_token: str, state: str) -> Launch:
        """Check a launch (`id_token`, `state` from the form post) and return what it says.

        Consumes the state and the nonce: the same launch never verifies twice.
        """
        import jwt

        if not id_token or not state:
            raise LtiError(400, "The launch lacks " + " and ".join(
                n for n, v in (("id_token", id_token), ("state", state)) if not v) + ".")
        login = records.take_state(self.database(), state)
        if login is None:
            raise LtiError(400, "Unknown, expired or already used state: this launch does not follow "
                           "a login here. Open the activity again from the course.")
        try:
            header = jwt.get_unverified_header(id_token)
            unverified = jwt.decode(id_token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise LtiError(400, "The id_token is not a well-formed JWT.") from None
        if header.get("alg") != "RS256":
            raise LtiError(401, f"The id_token must be signed with RS256, not {header.get('alg')!r}.")
        if unverified.get("iss") != login.issuer:
            raise LtiError(401, f"The id_token's issuer {unverified.get('iss')!r} is not the one that "
                           f"started the login ({login.issuer!r}).")
        try:
            registration = records.find_platform(self.database(), login.issuer, login.client_id)
        except records.RegistrationError as error:
            raise LtiError(400, str(error)) from None
        kid = header.get("kid")
        if not kid:
            raise LtiError(401, "The id_token header has no kid (key id).")
        key = self._signing_key(registration, str(kid))
        claims = self._decode(id_token, key, registration)
        if claims.get("nonce") != login.nonce:
            raise LtiError(401, "The id_token's nonce is not the one sent with this login: a replayed "
                           "or foreign token.")
        if not records.use_nonce(self.database(), registration.issuer, str(claims["nonce"]), NONCE_TTL):
            raise LtiError(401, "The id_token's nonce was already used: a replayed launch.")
        deployment = str(claims.get(DEPLOYMENT_ID, ""))
        if deployment not in registration.deployment_ids:
            raise LtiError(403, f"Deployment {deployment!r} of {registration.issuer} is not registered "
                           f"(registered: {', '.join(registration.deployment_ids)}).")
        if claims.get(VERSION) != "1.3.0":
            raise LtiError(400, f"LTI version {claims.get(VERSION)!r} is not supported (1.3.0 only).")
        message_type = claims.get(MESSAGE_TYPE)
        if message_type not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
            raise LtiError(400, f"Message type {message_type!r} is not supported (resource link and "
                           "deep linking requests only).")
        if message_type == RESOURCE_LINK_REQUEST and not (claims.get(RESOURCE_LINK) or {}).get("id"):
            raise LtiError(400, "The resource link launch has no resource_link id.")
        roles = claims.get(ROLES) or []
        custom = claims.get(CUSTOM) or {}
        sub = claims.get("sub")
        return Launch(issuer=registration.issuer, client_id=registration.client_id,
                      deployment_id=deployment, message_type=str(message_type),
                      user=self.pseudonym(registration.issuer, str(sub)) if sub else None,
                      roles=tuple(str(r) for r in roles if isinstance(r, str)),
                      custom=dict(custom) if isinstance(custom, dict) else {},
                      target_link_uri=str(claims.get(TARGET_LINK_URI, "") or ""), claims=claims)

    def _decode(self, id_token: str, key: Any, registration: records.Registration) -> dict[str, Any]:
        import jwt

        try:
            claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=registration.client_id,
                                issuer=registration.issuer, leeway=LEEWAY_S,
                                options={"require": ["exp", "iat", "iss", "aud", "nonce"]})
        except jwt.ExpiredSignatureError:
            raise LtiError(401, "The id_token has expired.") from None
        except jwt.InvalidAudienceError:
            raise LtiError(401, f"The id_token's audience does not include this tool's client id "
                           f"{registration.client_id!r}.") from None
        except jwt.InvalidIssuerError:
            raise LtiError(401, "The id_token's issuer does not match the registration.") from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise LtiError(401, "The id_token was issued in the future: check the platform's clock.") \
                from None
        except jwt.MissingRequiredClaimError as error:
            raise LtiError(401, f"The id_token lacks the {error.claim!r} claim.") from None
        except jwt.InvalidSignatureError:
            raise LtiError(401, "The id_token's signature does not verify with the platform's key.") \
                from None
        except jwt.PyJWTError as error:
            raise LtiError(401, f"The id_token is invalid: {error}.") from None
        if claims["iat"] < self.clock() - MAX_TOKEN_AGE_S:
            raise LtiError(401, "The id_token was issued too long ago.")
        aud = claims["aud"]
        azp = claims.get("azp")
        if (isinstance(aud, list) and len(aud) > 1 and azp is None) or \
                (azp is not None and azp != registration.client_id):
            raise LtiError(401, f"The id_token's azp must be this tool's client id "
                           f"{registration.client_id!r}.")
        return dict(claims)

    # ---- pseudonyms and launch sessions ----------------------------------------------------
    def pseudonym(self, issuer: str, sub: str) -> str:
        """A stable pseudonym for a platform user: keyed hash of iss and sub (no platform ids kept)."""
        digest = hmac.new(self.keys.session_secret(), f"user\n{issuer}\n{sub}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def session_token(self, launch: Launch, case_id: str, ttl_s: int = SESSION_TTL_S) -> str:
        """The signed launch session for the chat URL (`?lti=`)."""
        return self._sessions.sign({"u": launch.user or "", "c": case_id, "i": launch.instructor,
                                    "p": launch.issuer, "k": launch.course}, ttl_s)

    def read_session(self, token: str) -> LtiUser | None:
        """The user of a launch session token; None if forged, malformed or expired."""
        payload = self._sessions.read(token)
        if payload is None:
            return None
        try:
            user = LtiUser(str(payload["u"]), str(payload["c"]), bool(payload["i"]),
                           float(payload["exp"]), str(payload["p"]), str(payload["k"]))
        except KeyError:
            return None
        return user if user.user else None

    def user_from_query(self, query: str | Mapping[str, Any]) -> LtiUser | None:
        """The LTI user named by a URL query (`lti=`), e.g. the chat page's; None if there is none."""
        if isinstance(query, str):
            token = parse_qs(query).get("lti", [""])[0]
        else:
            value = query.get("lti", "")
            token = value[0] if isinstance(value, list) and value else str(value or "")
        return self.read_session(token) if token else None

    def instructor_ticket(self, launch: Launch, case_id: str) -> str:
        """A single-use ticket that opens the instructor dashboard for `case_id`."""
        ticket = secrets.token_urlsafe(32)
        records.save_instructor_ticket(
            self.database(), ticket,
            records.InstructorGrant(launch.issuer, launch.user or "", case_id, launch.course),
            TICKET_TTL)
        return ticket

    # ---- deep linking ----------------------------------------------------------------------
    def start_deep_link(self, launch: Launch) -> records.DeepLink:
        """Remember a verified deep-linking request; LtiError if it cannot take a resource link."""
        settings = launch.claims.get(DEEP_LINKING_SETTINGS) or {}
        return_url = str(settings.get("deep_link_return_url", "") or "")
        if not records.url_origin(return_url):
            raise LtiError(400, "The deep linking request has no deep_link_return_url.")
        accept = settings.get("accept_types") or []
        if "ltiResourceLink" not in accept:
            raise LtiError(400, "The platform does not accept LTI resource links here "
                           f"(accept_types: {', '.join(map(str, accept)) or 'none'}).")
        data = settings.get("data")
        link = records.DeepLink(id=secrets.token_urlsafe(32), issuer=launch.issuer,
                                client_id=launch.client_id, deployment_id=launch.deployment_id,
                                return_url=return_url,
                                data=None if data is None else json.dumps(data))
        records.save_deep_link(self.database(), link, DEEP_LINK_TTL)
        return link

    def deep_link_response(self, link: records.DeepLink, case_id: str, title: str,
                           launch_url: str) -> str:
        """The signed LtiDeepLinkingResponse JWT placing one resource link to `case_id`."""
        import jwt

        kid, key = self.keys.current()
        now = int(self.clock())
        item = {"type": "ltiResourceLink", "title": title, "url": launch_url,
                "custom": {"case": case_id}, "iframe": {"width": 900, "height": 760}}
        claims: dict[str, Any] = {
            "iss": link.client_id, "aud": link.issuer, "iat": now, "exp": now + 600,
            "nonce": secrets.token_urlsafe(16), DEPLOYMENT_ID: link.deployment_id,
            MESSAGE_TYPE: DEEP_LINKING_RESPONSE, VERSION: "1.3.0", CONTENT_ITEMS: [item]}
        if link.data is not None:
            claims[DL_DATA] = json.loads(link.data)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    # ---- framing ---------------------------------------------------------------------------
    def frame_origins(self) -> tuple[str, ...]:
        """The registered platforms' origins (cached briefly: read on every framed page)."""
        with self._lock:
            cached = self._origins.get("origins")
        if cached is not None:
            return cached
        try:
            origins = records.platform_origins(self.database())
        except DatabaseError as error:
            # Every page asks: a database that is down must not take the chat down with it.
            log.error("cannot read the LTI platforms' origins (%s); using the last known", error)
            origins = self._known_origins
        with self._lock:
            self._known_origins = self._origins["origins"] = origins
        return origins


def tool_urls(base_url: str) -> dict[str, str]:
    """The URLs a platform asks for when registering the tool at `base_url`."""
    base = base_url.rstrip("/")
    return {"login": f"{base}/lti/login", "launch": f"{base}/lti/launch", "jwks": f"{base}/lti/jwks",
            "deep_linking": f"{base}/lti/launch", "domain": urlsplit(base).netloc}
