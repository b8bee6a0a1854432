"""A course platform for the LTI tests, built on the third-party `lti1p3platform` package (the
platform side of LTI 1.3, not written by this project), served over real HTTP on 127.0.0.1.

It has a real RSA key pair and publishes its JWKS; it starts third-party initiated logins, answers
the tool's authorization redirect with an auto-posting form carrying a signed id_token (resource
link or deep linking request), and receives deep-linking responses, which lti1p3platform verifies
against the tool's JWKS. `course_page` is a course page framing a launch, for the browser test.
For the negative tests, `sign` makes id_tokens with any claims, key or kid.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from conftest import free_port
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration

CLIENT_ID = "casebot-client-1"
DEPLOYMENT_ID = "deployment-1"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
COURSE = "course-1"  # the LTI context id of every launch unless a test names another


def new_key() -> tuple[rsa.RSAPrivateKey, str, str]:
    """(key, private PEM, public PEM) of a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, private, public


class _Config(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration  # type: ignore[return-value]


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def get_preflight_response(self) -> dict[str, Any]:
        return self._request  # type: ignore[return-value]

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> str:
        fields = "".join(f'<input type="hidden" name="{k}" value="{v}">'
                         for k, v in (("id_token", launch_data["id_token"]), ("state", launch_data["state"])))
        return (f'<!doctype html><title>launching</title><form id="f" method="post" '
                f'action="{launch_data["launch_url"]}">{fields}</form>'
                "<script>document.getElementById('f').submit()</script>")


class Platform:
    """The platform: `issuer` is its origin; `tool` is casebot's base URL."""

    def __init__(self, tool: str = "") -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key, self.private_pem, self.public_pem = new_key()
        self.registration = Registration()
        self.registration.set_iss(self.issuer).set_client_id(CLIENT_ID).set_deployment_id(DEPLOYMENT_ID)
        self.registration.set_platform_public_key(self.public_pem)
        self.registration.set_platform_private_key(self.private_pem)
        self.kid = self.registration.get_kid() or ""
        self.extra_keys: list[dict[str, Any]] = []
        self.hints: dict[str, dict[str, Any]] = {}
        self.returns: list[dict[str, Any]] = []
        self.pages: dict[str, str] = {}
        self.set_tool(tool)
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                platform._handle(self, "GET")

            def do_POST(self) -> None:
                platform._handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    # ---- configuration --------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """Point the registration at casebot served at `tool`."""
        self.tool = tool.rstrip("/")
        self.registration.set_oidc_login_url(f"{self.tool}/lti/login")
        self.registration.set_launch_url(f"{self.tool}/lti/launch")
        self.registration.set_deeplink_launch_url(f"{self.tool}/lti/launch")
        self.registration.set_tool_key_set_url(f"{self.tool}/lti/jwks")

    @property
    def urls(self) -> dict[str, str]:
        """The values `casebot lti add-platform` takes."""
        return {"issuer": self.issuer, "client_id": CLIENT_ID, "deployment_id": DEPLOYMENT_ID,
                "auth_login_url": f"{self.issuer}/authorize", "auth_token_url": f"{self.issuer}/token",
                "jwks_url": f"{self.issuer}/jwks"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    # ---- flows ----------------------------------------------------------------------------
    def login_url(self, *, user: str = "student-1", roles: tuple[str, ...] = (LEARNER,),
                  case: str | None = "xpeng-volkswagen", deep: bool = False,
                  custom: dict[str, Any] | None = None, course: str = COURSE) -> str:
        """The tool login URL a platform sends the browser to (third-party initiated login)."""
        hint = secrets.token_urlsafe(8)
        self.hints[hint] = {"user": user, "roles": list(roles), "case": case, "deep": deep,
                            "custom": custom, "course": course}
        login = _Login(None, _Config(registration=self.registration))
        login.set_lti_message_hint(hint=hint)
        return str(login.prepare_preflight_url(user))

    def course_page(self, login_url: str, name: str) -> str:
        """A course page framing the launch (as a portal does); returns its URL."""
        self.pages[f"/{name}.html"] = (
            "<!doctype html><html><head><title>Course: Strategy 101</title></head>"
            "<body style='font-family:sans-serif;margin:16px'><h2>Strategy 101 · Week 3: "
            "Volkswagen and XPeng</h2>"
            f'<iframe src="{login_url}" width="960" height="760" style="border:1px solid #ccc" '
            'title="Ask the case"></iframe></body></html>')
        return f"{self.issuer}/{name}.html"

    def _authorize(self, query: dict[str, str]) -> str:
        hint = self.hints[query["lti_message_hint"]]
        launch = _Launch(query, _Config(registration=self.registration))
        launch._registration = self.registration
        launch.set_user_data(hint["user"], hint["roles"], full_name="A Person")
        launch.set_resource_link_claim("resource-link-1", title="Ask the case")
        launch.set_launch_context_claim(hint["course"], context_title="Strategy 101")
        custom = hint["custom"] if hint["custom"] is not None else (
            {"case": hint["case"]} if hint["case"] else {})
        if custom:
            launch.set_custom_parameters_claim(custom)
        if hint["deep"]:
            launch.set_dl(f"{self.issuer}/deep_link_return", title="Add content",
                          accept_types={"ltiResourceLink"}, extra_data={"opaque": "xyz-123"})
        return str(launch.lti_launch())

    def _deep_link_return(self, form: dict[str, str]) -> str:
        config = _Config(registration=self.registration)
        config.get_registration()
        items = config.validate_deeplinking_resp({"JWT": form["JWT"]})
        claims = jwt.decode(form["JWT"], options={"verify_signature": False})
        self.returns.append({"items": items, "claims": claims})
        titles = ", ".join(str(i.get("title")) for i in items)
        return f"<!doctype html><title>added</title><h3 id='added'>Added to the course: {titles}</h3>"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        form: dict[str, str] = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        status, body, ctype = 200, "", "text/html; charset=utf-8"
        try:
            if parts.path == "/jwks":
                body, ctype = json.dumps({"keys": self.registration.get_jwks() + self.extra_keys}), \
                    "application/json"
            elif parts.path == "/authorize":
                body = self._authorize(query)
            elif parts.path == "/deep_link_return" and method == "POST":
                body = self._deep_link_return(form)
            elif parts.path in self.pages:
                body = self.pages[parts.path]
            else:
                status, body = 404, "not found"
        except Exception as error:  # shown to the test, which then fails with the reason
            status, body = 500, f"platform error: {type(error).__name__}: {error}"
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # ---- hand-made tokens for the negative tests -------------------------------------------
    def claims(self, nonce: str, **changes: Any) -> dict[str, Any]:
        """The claims of a valid resource link launch for `nonce`, with `changes` (None deletes)."""
        now = int(time.time())
        claim = "https://purl.imsglobal.org/spec/lti/claim/"
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": "student-1",
            "iat": now, "exp": now + 300, "nonce": nonce,
            claim + "message_type": "LtiResourceLinkRequest", claim + "version": "1.3.0",
            claim + "deployment_id": DEPLOYMENT_ID,
            claim + "target_link_uri": f"{self.tool}/lti/launch",
            claim + "resource_link": {"id": "resource-link-1"},
            claim + "roles": [LEARNER], claim + "custom": {"case": "xpeng-volkswagen"},
            claim + "context": {"id": COURSE, "title": "Strategy 101"},
        }
        for key, value in changes.items():
            name = key if key in claims or not key.startswith("lti_") else claim + key[4:]
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(self, claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
        """An RS256 id_token over `claims` (the platform's own key and kid unless given)."""
        return jwt.encode(claims, key if key is not None else self.key, algorithm="RS256",
                          headers={"kid": kid if kid is not None else self.kid})


def login_params(platform: Platform, **extra: str) -> dict[str, str]:
    """The query of a third-party initiated login from `platform`."""
    return {"iss": platform.issuer, "login_hint": "student-1", "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT_ID, "target_link_uri": f"{platform.tool}/lti/launch",
            "lti_message_hint": "hint-1", **extra}


def redirect_query(location: str) -> dict[str, str]:
    """The query of the tool's redirect to the platform's authorization endpoint."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


__all__ = ["CLIENT_ID", "COURSE", "DEPLOYMENT_ID", "INSTRUCTOR", "LEARNER", "Platform", "login_params",
           "redirect_query"]
