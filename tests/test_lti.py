"""LTI 1.3 tool side, at unit level: keys and JWKS (with rotation), the OIDC login, launch
verification and everything it must refuse, launch sessions, instructor tickets, deep linking,
frame-ancestors, and the `casebot lti` command.

The tool runs in FastAPI's TestClient; the platform (tests/lti_platform.py) is a real HTTP server on
127.0.0.1 with a real RSA key, whose JWKS the tool fetches over HTTP.
"""

from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from conftest import CASEBOT, cli_env
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from lti_platform import CLIENT_ID, DEPLOYMENT_ID, INSTRUCTOR, Platform, login_params, new_key, redirect_query

from bot.lti import models as records
from bot.lti.routes import FrameAncestorsMiddleware, accept_instructor_ticket, mount_lti, user_of_request
from bot.lti.tool import LtiTool
from bot.settings import Settings

CASES = {"xpeng-volkswagen": "Volkswagen and XPeng", "other-case": "Another case"}
SECRET = "a-test-secret-of-at-least-32-characters"
TOOL = "http://testserver"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    server = Platform(TOOL)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def tool_client(tmp_path: Path, platform: Platform) -> Iterator[tuple[TestClient, LtiTool]]:
    """The LTI routes over a fresh data dir, with `platform` registered."""
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    app = FastAPI()
    tool = mount_lti(app, settings, lambda: dict(CASES), SECRET)
    records.add_platform(tool.engine, **platform.urls)
    with TestClient(app, base_url=TOOL) as client:
        yield client, tool


def _login(client: TestClient, platform: Platform, **extra: str) -> tuple[str, str]:
    """A real login at the tool; returns (state, nonce) from its redirect to the platform."""
    response = client.get("/lti/login", params=login_params(platform, **extra), follow_redirects=False)
    assert response.status_code == 302, response.text
    query = redirect_query(response.headers["location"])
    return query["state"], query["nonce"]


def _launch(client: TestClient, id_token: str, state: str) -> Any:
    return client.post("/lti/launch", data={"id_token": id_token, "state": state})


# ---- keys ------------------------------------------------------------------------------------

def test_jwks_publishes_a_private_key_made_on_first_use(tool_client: tuple[TestClient, LtiTool]) -> None:
    client, tool = tool_client
    keys = client.get("/lti/jwks").json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
    kid = keys[0]["kid"]
    pem = tool.keys.directory / f"{kid}.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tool.keys.directory).st_mode) == 0o700
    assert len(tool.keys.session_secret()) == 32
    assert stat.S_IMODE(os.stat(tool.keys.directory / "session.key").st_mode) == 0o600
    # A token signed with the current key verifies with the published JWK.
    current_kid, private = tool.keys.current()
    assert current_kid == kid
    token = jwt.encode({"x": 1}, private, algorithm="RS256", headers={"kid": kid})
    public = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"x": 1}
    # Same key on the next call (not a new one per request).
    assert client.get("/lti/jwks").json()["keys"][0]["kid"] == kid


def test_rotation_keeps_the_old_key_published_for_the_grace_period(
        tool_client: tuple[TestClient, LtiTool]) -> None:
    client, tool = tool_client
    old = client.get("/lti/jwks").json()["keys"][0]["kid"]
    new, retired = tool.keys.rotate(timedelta(days=7))
    assert retired == [old] and new != old
    assert tool.keys.current()[0] == new
    assert [k["kid"] for k in client.get("/lti/jwks").json()["keys"]] == [new, old]
    newest, retired = tool.keys.rotate(timedelta(0))
    kids = [k["kid"] for k in client.get("/lti/jwks").json()["keys"]]
    assert kids == [newest, old], "a zero grace drops the replaced key at once; the 7-day one stays"


# ---- login -----------------------------------------------------------------------------------

def test_login_redirects_to_the_platform_with_oidc_parameters(
        tool_client: tuple[TestClient, LtiTool], platform: Platform) -> None:
    client, _ = tool_client
    response = client.post("/lti/login", data=login_params(platform), follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(platform.urls["auth_login_url"] + "?")
    query = redirect_query(location)
    assert query["scope"] == "openid" and query["response_type"] == "id_token"
    assert query["response_mode"] == "form_post" and query["prompt"] == "none"
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == f"{TOOL}/lti/launch"
    assert query["login_hint"] == "student-1" and query["lti_message_hint"] == "hint-1"
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert _login(client, platform) != (query["state"], query["nonce"])


@pytest.mark.parametrize(("change", "expected"), [
    ({"iss": "https://unknown.example.edu"}, "No LTI platform is registered for issuer 'https://unknown"),
    ({"client_id": "someone-else"}, "with client id 'someone-else'"),
    ({"lti_deployment_id": "deployment-9"}, "Deployment 'deployment-9'"),
    ({"login_hint": ""}, "lacks login_hint"),
])
def test_login_refuses_unregistered_platforms(tool_client: tuple[TestClient, LtiTool], platform: Platform,
                                              change: dict[str, str], expected: str) -> None:
    client, _ = tool_client
    response = client.get("/lti/login", params=login_params(platform, **change), follow_redirects=False)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert expected in html.unescape(response.text)


# ---- launch ----------------------------------------------------------------------------------

def test_valid_launch_frames_the_chat_with_a_pseudonymous_session(
        tool_client: tuple[TestClient, LtiTool], platform: Platform) -> None:
    client, tool = tool_client
    state, nonce = _login(client, platform)
    response = _launch(client, platform.sign(platform.claims(nonce)), state)
    assert response.status_code == 200, response.text
    src = response.text.split('<iframe class="chat" src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    query = parse_qs(urlsplit(src).query)
    assert src.startswith("../embed/?") and query["case"] == ["xpeng-volkswagen"]
    user = tool.read_session(query["lti"][0])
    assert user is not None and user.case_id == "xpeng-volkswagen" and not user.instructor
    assert user.user == tool.pseudonym(platform.issuer, "student-1")
    assert "student-1" not in src and "student-1" not in response.text
    assert "Instructor dashboard" not in response.text
    # Another user gets another pseudonym; a forged session is nobody.
    assert tool.pseudonym(platform.issuer, "student-2") != user.user
    assert tool.read_session(query["lti"][0][:-2] + "xx") is None


def test_case_can_come_from_the_target_link_uri(tool_client: tuple[TestClient, LtiTool],
                                                platform: Platform) -> None:
    client, _ = tool_client
    state, nonce = _login(client, platform)
    claims = platform.claims(nonce, lti_custom={}, lti_target_link_uri=f"{TOOL}/lti/launch?case=other-case")
    response = _launch(client, platform.sign(claims), state)
    assert response.status_code == 200 and "case=other-case" in response.text


def test_a_course_link_with_mode_guide_opens_a_hint_only_chat(tool_client: tuple[TestClient, LtiTool],
                                                              platform: Platform) -> None:
    client, _ = tool_client
    for custom, guided in (({"case": "xpeng-volkswagen", "mode": "guide"}, True),
                           ({"case": "xpeng-volkswagen"}, False)):
        state, nonce = _login(client, platform)
        response = _launch(client, platform.sign(platform.claims(nonce, lti_custom=custom)), state)
        src = response.text.split('<iframe class="chat" src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert (parse_qs(urlsplit(src).query).get("mode") == ["guide"]) is guided


def test_instructor_launch_links_the_dashboard_with_a_single_use_ticket(
        tool_client: tuple[TestClient, LtiTool], platform: Platform) -> None:
    client, tool = tool_client
    state, nonce = _login(client, platform)
    claims = platform.claims(nonce, sub="teacher-1", lti_roles=[INSTRUCTOR])
    response = _launch(client, platform.sign(claims), state)
    assert response.status_code == 200
    href = response.text.split('id="casebot-instructor"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    query = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
    assert href.startswith("../instructor?") and query["case"] == ["xpeng-volkswagen"]
    grant = accept_instructor_ticket(tool, query["lti_ticket"][0])
    assert grant is not None and grant.case_id == "xpeng-volkswagen"
    assert grant.user == tool.pseudonym(platform.issuer, "teacher-1")
    assert accept_instructor_ticket(tool, query["lti_ticket"][0]) is None, "single use"
    assert accept_instructor_ticket(tool, "made-up") is None


def _other_key() -> Any:
    return new_key()[0]


NEGATIVE = {
    "bad signature": (lambda p, n: p.sign(p.claims(n), key=_other_key()), 401, "signature does not verify"),
    "unknown kid": (lambda p, n: p.sign(p.claims(n), key=_other_key(), kid="no-such-key"), 401,
                    "does not hold"),
    "wrong aud": (lambda p, n: p.sign(p.claims(n, aud="another-tool", azp=None)), 401,
                  "audience does not include"),
    "wrong azp": (lambda p, n: p.sign(p.claims(n, aud=[CLIENT_ID, "x"], azp="x")), 401, "azp"),
    "expired": (lambda p, n: p.sign(p.claims(n, iat=int(time.time()) - 900, exp=int(time.time()) - 300)),
                401, "expired"),
    "issued in the future": (lambda p, n: p.sign(p.claims(n, iat=int(time.time()) + 600)), 401, "future"),
    "foreign nonce": (lambda p, n: p.sign(p.claims("not-the-login-nonce")), 401, "nonce is not the one"),
    "wrong deployment": (lambda p, n: p.sign(p.claims(n, lti_deployment_id="deployment-9")), 403,
                         "Deployment 'deployment-9'"),
    "missing custom case": (lambda p, n: p.sign(p.claims(n, lti_custom={})), 400, "names no case"),
    "unknown case": (lambda p, n: p.sign(p.claims(n, lti_custom={"case": "nope"})), 404, "No case 'nope'"),
    "wrong version": (lambda p, n: p.sign(p.claims(n, lti_version="1.1")), 400, "version"),
    "wrong message type": (lambda p, n: p.sign(p.claims(n, lti_message_type="LtiSubmissionReview")), 400,
                           "Message type"),
    "other issuer": (lambda p, n: p.sign(p.claims(n, iss="https://evil.example")), 401, "issuer"),
    "not a jwt": (lambda p, n: "abc.def", 400, "not a well-formed JWT"),
    "HS256": (lambda p, n: jwt.encode(p.claims(n), "secret-" * 8, algorithm="HS256"), 401, "RS256"),
}


@pytest.mark.parametrize("name", list(NEGATIVE))
def test_launch_refuses(tool_client: tuple[TestClient, LtiTool], platform: Platform, name: str) -> None:
    client, _ = tool_client
    make, status, expected = NEGATIVE[name]
    state, nonce = _login(client, platform)
    response = _launch(client, make(platform, nonce), state)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert expected in html.unescape(response.text), response.text
    assert "<iframe" not in response.text and "lti=" not in response.text
    # Nothing else happened: the state is spent, so even a good token cannot use it now.
    again = _launch(client, platform.sign(platform.claims(nonce)), state)
    assert again.status_code == 400 and "already used state" in again.text


def test_replayed_launch_is_refused(tool_client: tuple[TestClient, LtiTool], platform: Platform) -> None:
    client, _ = tool_client
    state, nonce = _login(client, platform)
    token = platform.sign(platform.claims(nonce))
    assert _launch(client, token, state).status_code == 200
    replay = _launch(client, token, state)
    assert replay.status_code == 400 and "already used state" in replay.text
    # The same token with a fresh login's state: its nonce belongs to the first login.
    fresh_state, _ = _login(client, platform)
    replay = _launch(client, token, fresh_state)
    assert replay.status_code == 401 and "nonce" in replay.text


def test_a_nonce_is_single_use_even_across_logins(tool_client: tuple[TestClient, LtiTool],
                                                  platform: Platform) -> None:
    _, tool = tool_client
    assert records.use_nonce(tool.engine, platform.issuer, "n-1", timedelta(hours=1))
    assert not records.use_nonce(tool.engine, platform.issuer, "n-1", timedelta(hours=1))
    # A state bound to an already used nonce (e.g. a second replica saw the first launch).
    records.save_state(tool.engine, records.LoginState("s-1", "n-1", platform.issuer, CLIENT_ID),
                       timedelta(minutes=5))
    client = tool_client[0]
    response = _launch(client, platform.sign(platform.claims("n-1")), "s-1")
    assert response.status_code == 401 and "nonce was already used" in response.text


@pytest.mark.parametrize("state", ["made-up-state", ""])
def test_unknown_or_missing_state_is_refused(tool_client: tuple[TestClient, LtiTool], platform: Platform,
                                             state: str) -> None:
    client, _ = tool_client
    _, nonce = _login(client, platform)
    response = _launch(client, platform.sign(platform.claims(nonce)), state)
    assert response.status_code == 400
    assert ("already used state" if state else "lacks state") in response.text


def test_expired_state_is_refused(tool_client: tuple[TestClient, LtiTool], platform: Platform) -> None:
    client, tool = tool_client
    records.save_state(tool.engine, records.LoginState("old", "n-old", platform.issuer, CLIENT_ID),
                       timedelta(seconds=-1))
    response = _launch(client, platform.sign(platform.claims("n-old")), "old")
    assert response.status_code == 400 and "expired" in response.text


def test_platform_key_rotation_is_picked_up_on_an_unknown_kid(
        tool_client: tuple[TestClient, LtiTool], platform: Platform) -> None:
    client, tool = tool_client
    tool.jwks_cooldown_s = 0.0  # the platform rotates right after the first launch
    state, nonce = _login(client, platform)
    assert _launch(client, platform.sign(platform.claims(nonce)), state).status_code == 200
    key = _other_key()
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "rotated-1",
           "alg": "RS256", "use": "sig"}
    platform.extra_keys.append(jwk)
    try:
        state, nonce = _login(client, platform)
        response = _launch(client, platform.sign(platform.claims(nonce), key=key, kid="rotated-1"), state)
        assert response.status_code == 200, response.text
    finally:
        platform.extra_keys.clear()


# ---- deep linking ----------------------------------------------------------------------------

def _deep_claims(platform: Platform, nonce: str, **changes: Any) -> dict[str, Any]:
    settings = {"deep_link_return_url": f"{platform.issuer}/deep_link_return",
                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe"],
                "data": {"opaque": "xyz-123"}}
    changes = {"lti_message_type": "LtiDeepLinkingRequest", "lti_resource_link": None,
               "lti_roles": [INSTRUCTOR], "lti_custom": None, DL + "deep_linking_settings": settings,
               **changes}
    return platform.claims(nonce, **changes)


def test_deep_linking_returns_a_signed_resource_link(tool_client: tuple[TestClient, LtiTool],
                                                     platform: Platform) -> None:
    client, _ = tool_client
    state, nonce = _login(client, platform)
    picker = _launch(client, platform.sign(_deep_claims(platform, nonce)), state)
    assert picker.status_code == 200, picker.text
    assert "Volkswagen and XPeng" in picker.text and "Another case" in picker.text
    forms = re.findall(r'<form class="case".*?</form>', picker.text, re.S)
    assert len(forms) == 2
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', next(f for f in forms if "other-case" in f)))
    assert set(fields) == {"choice"}, "the form carries one signed choice, no URL of its own"
    # A launch URL slipped into the form is not what gets signed into the course.
    back = client.post("/lti/deep-link", data={**fields, "launch_url": "https://evil.example/lti/launch"})
    assert back.status_code == 200
    assert f'action="{platform.issuer}/deep_link_return"' in back.text and ".submit()" in back.text
    token = back.text.split('name="JWT" value="', 1)[1].split('"', 1)[0]
    jwks = jwt.PyJWKSet.from_dict(client.get("/lti/jwks").json())
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, jwks[header["kid"]].key, algorithms=["RS256"], audience=platform.issuer)
    assert claims["iss"] == CLIENT_ID
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == DEPLOYMENT_ID
    assert claims[DL + "data"] == {"opaque": "xyz-123"}
    [item] = claims[DL + "content_items"]
    assert item["type"] == "ltiResourceLink" and item["title"] == "Another case"
    assert item["custom"] == {"case": "other-case"} and item["url"] == f"{TOOL}/lti/launch"
    assert "iframe" in item
    again = client.post("/lti/deep-link", data=fields)
    assert again.status_code == 400 and "already sent" in again.text


MARKUP = '<b>Bold</b> & <script>alert("title")</script>'


def test_every_lti_page_escapes_what_it_shows(tmp_path: Path, platform: Platform) -> None:
    """Titles, case ids and messages reach the pages (rendered from templates) as text only."""
    app = FastAPI()
    tool = mount_lti(app, Settings.from_env({}, data_dir=tmp_path / "data"),
                     lambda: {"markup-case": MARKUP}, SECRET)
    records.add_platform(tool.engine, **platform.urls)
    with TestClient(app, base_url=TOOL) as client:
        state, nonce = _login(client, platform)
        launched = _launch(client, platform.sign(platform.claims(nonce, lti_custom={"case": "markup-case"})),
                           state)
        state, nonce = _login(client, platform)
        picker = _launch(client, platform.sign(_deep_claims(platform, nonce)), state)
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', picker.text))
        returned = client.post("/lti/deep-link", data=fields)
        state, nonce = _login(client, platform)
        refused = _launch(client, platform.sign(platform.claims(nonce, lti_custom={"case": "<img src=x>"})),
                          state)
    assert refused.status_code == 404 and "&lt;img src=x&gt;" in refused.text
    assert "<img" not in refused.text
    for shown in (launched, picker, returned):
        assert shown.status_code == 200, shown.text
        assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in shown.text
        assert "<script>alert" not in shown.text and "<b>" not in shown.text
        assert shown.headers["cache-control"] == "no-store"


def test_deep_linking_is_for_instructors_and_resource_links(tool_client: tuple[TestClient, LtiTool],
                                                            platform: Platform) -> None:
    client, _ = tool_client
    state, nonce = _login(client, platform)
    learner = platform.sign(_deep_claims(platform, nonce, lti_roles=["http://purl.imsglobal.org/vocab/"
                                                                     "lis/v2/membership#Learner"]))
    response = _launch(client, learner, state)
    assert response.status_code == 403 and "Only instructors" in response.text


# ---- framing and rate-limit identity ---------------------------------------------------------

def test_registered_platforms_may_frame_html_pages(tool_client: tuple[TestClient, LtiTool],
                                                   platform: Platform) -> None:
    _, tool = tool_client
    app = FastAPI()

    @app.get("/page")
    def html_page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"content-security-policy": "frame-ancestors 'self'"})

    @app.get("/data")
    def data() -> dict[str, int]:
        return {"x": 1}

    app.add_middleware(FrameAncestorsMiddleware, origins=tool.frame_origins)
    with TestClient(app) as client:
        assert client.get("/page").headers["content-security-policy"] == \
            f"frame-ancestors 'self' {platform.issuer}"
        assert "content-security-policy" not in client.get("/data").headers


def test_a_chat_request_names_its_lti_user(tool_client: tuple[TestClient, LtiTool],
                                            platform: Platform) -> None:
    from starlette.requests import Request

    client, tool = tool_client
    state, nonce = _login(client, platform)
    text = _launch(client, platform.sign(platform.claims(nonce)), state).text
    session = parse_qs(urlsplit(text.split('class="chat" src="', 1)[1].split('"', 1)[0]
                                .replace("&amp;", "&")).query)["lti"][0]
    expected = tool.pseudonym(platform.issuer, "student-1")

    def request(query: bytes, headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "client": ("10.0.0.1", 5), "headers": headers, "query_string": query})

    assert user_of_request(tool, request(f"case=x&lti={session}".encode(), [])).user == expected
    # A Gradio request names its user by its own URL only (the chat keeps the user it read at
    # page load in the session's state), never by the page that sent it.
    referer = f"http://testserver/embed/?case=x&lti={session}".encode()
    assert user_of_request(tool, request(b"", [(b"referer", referer)])) is None
    assert user_of_request(tool, request(b"lti=forged.x", [])) is None


# ---- the casebot lti command -----------------------------------------------------------------

def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`casebot lti ARGS` through the console script (a process per call: a few seconds each)."""
    return subprocess.run([CASEBOT, "lti", *args, "--data-dir", str(data_dir)], capture_output=True,
                          text=True, env=cli_env(data_dir), timeout=120)


@pytest.fixture
def run_lti(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`casebot lti ARGS` through bot.cli.main in this process: (exit code, stdout, stderr)."""
    from bot.cli import main

    for name in [n for n in os.environ if n.startswith("CASEBOT_")]:
        monkeypatch.delenv(name)

    def run(data_dir: Path, *args: str) -> tuple[int, str, str]:
        code = main(["lti", *args, "--data-dir", str(data_dir)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


CANVAS = ["--issuer", "https://canvas.instructure.com", "--client-id", "10000000000001",
          "--auth-login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
          "--auth-token-url", "https://sso.canvaslms.com/login/oauth2/token",
          "--jwks-url", "https://sso.canvaslms.com/api/lti/security/jwks"]


@pytest.mark.subprocess
def test_cli_registers_lists_rotates_and_removes(tmp_path: Path, run_lti: Any) -> None:
    data = tmp_path / "data"
    added = _cli(data, "add-platform", *CANVAS, "--deployment-id", "1:abc")
    assert added.returncode == 0, added.stderr
    assert "registered https://canvas.instructure.com" in added.stderr
    assert (data / "records.sqlite3").exists()
    code, _, _ = run_lti(data, "add-platform", *CANVAS, "--deployment-id", "2:def",
                         "--frame-origin", "https://school.instructure.com")
    assert code == 0
    code, out, _ = run_lti(data, "list", "--json")
    assert [(p["issuer"], p["client_id"], p["deployment_ids"], p["frame_origins"]) for p in json.loads(out)] \
        == [("https://canvas.instructure.com", "10000000000001", ["1:abc", "2:def"],
             ["https://canvas.instructure.com", "https://school.instructure.com"])]
    code, out, _ = run_lti(data, "list")
    assert code == 0 and "deployments 1:abc,2:def" in out
    code, first, _ = run_lti(data, "rotate-key")
    code2, second, err = run_lti(data, "rotate-key", "--grace-days", "3")
    assert code == 0 and code2 == 0 and first.strip() != second.strip()
    assert "stay in the JWKS for 3 days" in err
    assert stat.S_IMODE(os.stat(data / "lti" / f"{second.strip()}.pem").st_mode) == 0o600
    code, _, err = run_lti(data, "add-platform", "--issuer", "not a url", "--client-id", "x",
                           "--deployment-id", "y", "--auth-login-url", "https://a", "--auth-token-url",
                           "https://a", "--jwks-url", "https://a")
    assert code == 2 and "--issuer must be an http(s) URL" in err
    code, _, _ = run_lti(data, "remove", "--issuer", "https://canvas.instructure.com", "--client-id",
                         "10000000000001")
    assert code == 0
    assert run_lti(data, "list", "--json")[1].strip() == "[]"
    code, _, err = run_lti(data, "remove", "--issuer", "https://canvas.instructure.com", "--client-id",
                           "10000000000001")
    assert code == 2 and "No registration" in err


@pytest.mark.subprocess
def test_cli_info_prints_the_urls_a_portal_asks_for(tmp_path: Path, run_lti: Any) -> None:
    info = _cli(tmp_path, "info", "--base-url", "https://casebot.example.edu/")
    assert info.returncode == 0, info.stderr
    for line in ("https://casebot.example.edu/lti/login", "https://casebot.example.edu/lti/launch",
                 "https://casebot.example.edu/lti/jwks", "case=<case id>", "RS256"):
        assert line in info.stdout
    code, out, _ = run_lti(tmp_path, "info", "--base-url", "https://casebot.example.edu", "--json")
    as_json = json.loads(out)
    assert as_json["jwks"] == "https://casebot.example.edu/lti/jwks"
    assert as_json["domain"] == "casebot.example.edu"
    code, _, err = run_lti(tmp_path, "info", "--base-url", "casebot.example.edu")
    assert code == 2 and "--base-url" in err


def test_expired_single_use_values_are_purged(tool_client: tuple[TestClient, LtiTool],
                                              platform: Platform) -> None:
    _, tool = tool_client
    records.save_state(tool.engine, records.LoginState("gone", "n", platform.issuer, CLIENT_ID),
                       timedelta(seconds=-5))
    records.save_state(tool.engine, records.LoginState("kept", "n2", platform.issuer, CLIENT_ID),
                       timedelta(minutes=5))
    assert records.use_nonce(tool.engine, platform.issuer, "old-nonce", timedelta(seconds=-5))
    assert records.purge_expired(tool.engine) == 2
    assert records.take_state(tool.engine, "kept") is not None


def test_the_rate_limit_counts_each_lti_user_separately(tool_client: tuple[TestClient, LtiTool],
                                                        platform: Platform) -> None:
    from starlette.requests import Request

    from bot.web.ratelimit import Client, QuestionLimiter, RateLimited

    client, tool = tool_client
    users = []
    for sub in ("student-a", "student-b"):
        state, nonce = _login(client, platform)
        text = _launch(client, platform.sign(platform.claims(nonce, sub=sub)), state).text
        src = text.split('class="chat" src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        request = Request({"type": "http", "headers": [], "query_string": urlsplit(src).query.encode()})
        user = user_of_request(tool, request)
        assert user is not None
        users.append(user.user)
    limiter = QuestionLimiter.from_settings("1/minute", "off", "memory://")
    assert limiter is not None
    # Every question comes from the same address, as from one classroom behind NAT.
    limiter.check(Client(ip="10.0.0.1", user=users[0]))
    limiter.check(Client(ip="10.0.0.1", user=users[1]))
    with pytest.raises(RateLimited):
        limiter.check(Client(ip="10.0.0.1", user=users[0]))
    limiter.check(Client(ip="10.0.0.1"))  # the address alone is a third client


@pytest.mark.parametrize(("role", "expected"), [
    ("http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor", True),
    ("http://purl.imsglobal.org/vocab/lis/v2/membership#TeachingAssistant", True),
    ("http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant", True),
    ("http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator", True),
    ("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator", True),
    ("http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator", True),
    ("Instructor", True),
    ("http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", False),
    ("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor", False),
    ("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student", False),
    ("http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor", False),
])
def test_instructor_roles(role: str, expected: bool) -> None:
    from bot.lti.tool import is_instructor_role

    assert is_instructor_role(role) is expected


def test_login_on_one_replica_and_launch_on_another(tmp_path: Path, platform: Platform) -> None:
    """Two servers sharing the records database and the lti/ folder: state and nonce are shared."""
    settings = Settings.from_env({}, data_dir=tmp_path / "shared")
    apps = [FastAPI(), FastAPI()]
    tools = [mount_lti(app, settings, lambda: dict(CASES), SECRET) for app in apps]
    records.add_platform(tools[0].engine, **platform.urls)
    with TestClient(apps[0], base_url=TOOL) as first, TestClient(apps[1], base_url=TOOL) as second:
        state, nonce = _login(first, platform)
        token = platform.sign(platform.claims(nonce))
        assert _launch(second, token, state).status_code == 200
        assert _launch(first, token, state).status_code == 400, "the state is spent on every replica"
        assert first.get("/lti/jwks").json() == second.get("/lti/jwks").json()


def test_the_dashboard_link_signs_an_instructor_in_once(tmp_path: Path, platform: Platform) -> None:
    from bot.records.recorder import open_recorder
    from bot.web.instructor import COOKIE, records_router

    settings = Settings.from_env({}, data_dir=tmp_path / "data", instructor_token="t0ken-of-16-chars")
    app = FastAPI()
    tool = mount_lti(app, settings, lambda: dict(CASES), SECRET)
    app.include_router(records_router(open_recorder(settings), settings.instructor_token,
                                      lambda: list(CASES), None, secret=SECRET))
    records.add_platform(tool.engine, **platform.urls)
    with TestClient(app, base_url=TOOL) as client:
        state, nonce = _login(client, platform)
        claims = platform.claims(nonce, sub="teacher-1", lti_roles=[INSTRUCTOR])
        href = _launch(client, platform.sign(claims), state).text.split(
            'id="casebot-instructor"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
        ticket = parse_qs(urlsplit(href.replace("&amp;", "&")).query)["lti_ticket"][0]
        first = client.get("/instructor", params={"case": "xpeng-volkswagen", "lti_ticket": ticket},
                           follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/instructor?case=xpeng-volkswagen"
        assert COOKIE in first.cookies
        client.cookies.clear()
        again = client.get("/instructor", params={"lti_ticket": ticket}, follow_redirects=False)
        assert again.status_code == 401 and COOKIE not in again.cookies
