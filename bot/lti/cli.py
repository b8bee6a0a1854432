"""`casebot lti`: register course platforms (LTI 1.3), list and remove them, rotate the tool's
signing key, and print the URLs a platform asks for when the tool is registered there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bot.errors import UsageError
from bot.settings import Settings

DESCRIPTION = (
    "LTI 1.3 for course portals (Canvas, Moodle, Blackboard, Brightspace): register a platform "
    "once, then instructors add \"Ask the case\" to any module and students arrive in the right case. "
    "Registrations live in the records database (CASEBOT_DATABASE_URL); the tool's keys in "
    "<data dir>/lti/. See docs/lti.md."
)


def configure_parser(parser: argparse.ArgumentParser, parents: Sequence[argparse.ArgumentParser] = ()
                     ) -> None:
    """Add the `lti` subcommands; `parents` carry the common flags (--data-dir, -v, ...)."""
    actions = parser.add_subparsers(dest="lti_action", required=True, metavar="ACTION")
    p = actions.add_parser("add-platform", parents=list(parents), help="register a course platform",
                           description="Register a platform (or add a deployment to one). The values "
                           "come from the platform's LTI 1.3 registration page; see docs/lti.md.")
    p.add_argument("--issuer", required=True, metavar="URL",
                   help="the platform's issuer (iss), e.g. https://canvas.instructure.com")
    p.add_argument("--client-id", required=True, metavar="ID", help="the client id the platform gave casebot")
    p.add_argument("--deployment-id", required=True, metavar="ID",
                   help="the deployment id (repeat the command to add more deployments)")
    p.add_argument("--auth-login-url", required=True, metavar="URL",
                   help="the platform's OIDC authorization endpoint")
    p.add_argument("--auth-token-url", required=True, metavar="URL",
                   help="the platform's OAuth2 access token endpoint")
    p.add_argument("--jwks-url", required=True, metavar="URL", help="the platform's public keyset URL")
    p.add_argument("--frame-origin", action="append", default=[], metavar="URL",
                   help="another origin that frames casebot, when it is not the issuer's (Canvas cloud: "
                   "https://yourschool.instructure.com); repeatable")
    p.set_defaults(lti_run=_add_platform)

    p = actions.add_parser("list", parents=list(parents), help="list registered platforms")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(lti_run=_list)

    p = actions.add_parser("remove", parents=list(parents), help="remove a platform registration")
    p.add_argument("--issuer", required=True, metavar="URL")
    p.add_argument("--client-id", required=True, metavar="ID")
    p.set_defaults(lti_run=_remove)

    p = actions.add_parser("rotate-key", parents=list(parents), help="make a new tool signing key",
                           description="Create a new signing key. The old one stays in /lti/jwks for "
                           "the grace period, so platforms that cached it keep accepting messages.")
    p.add_argument("--grace-days", type=float, default=7.0, metavar="DAYS",
                   help="how long the old key stays published (default 7)")
    p.set_defaults(lti_run=_rotate)

    p = actions.add_parser("info", parents=list(parents), help="print the URLs a platform asks for",
                           description="Print the login, launch (redirect), JWKS and deep linking URLs "
                           "for casebot served at --base-url, and the tool's current key id.")
    p.add_argument("--base-url", required=True, metavar="URL",
                   help="where the portal reaches casebot, e.g. https://casebot.example.edu")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(lti_run=_info)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `casebot lti` action; returns the exit code."""
    return int(args.lti_run(args, settings))


def _engine(settings: Settings) -> Any:
    from bot.lti.routes import records_engine
    from bot.records.schema import upgrade_schema

    engine = records_engine(settings)
    upgrade_schema(engine)
    return engine


def _add_platform(args: argparse.Namespace, settings: Settings) -> int:
    from bot.lti.models import add_platform

    reg = add_platform(_engine(settings), args.issuer, args.client_id, args.deployment_id,
                       args.auth_login_url, args.auth_token_url, args.jwks_url, args.frame_origin)
    print(f"registered {reg.issuer} (client {reg.client_id}; deployments: "
          f"{', '.join(reg.deployment_ids)})", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.lti.models import list_platforms

    platforms = list_platforms(_engine(settings))
    if args.json:
        print(json.dumps([{"issuer": p.issuer, "client_id": p.client_id,
                           "deployment_ids": list(p.deployment_ids), "auth_login_url": p.auth_login_url,
                           "auth_token_url": p.auth_token_url, "jwks_url": p.jwks_url,
                           "frame_origins": list(p.origins)}
                          for p in platforms]))
        return 0
    if not platforms:
        print("No platform registered. Add one with `casebot lti add-platform` (see docs/lti.md).")
    for p in platforms:
        print(f"{p.issuer}\tclient {p.client_id}\tdeployments {','.join(p.deployment_ids)}\t"
              f"jwks {p.jwks_url}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from bot.lti.models import remove_platform

    if not remove_platform(_engine(settings), args.issuer, args.client_id):
        raise UsageError(f"No registration for issuer {args.issuer} with client id {args.client_id}. "
                       "See `casebot lti list`.")
    print(f"removed {args.issuer} (client {args.client_id})", file=sys.stderr)
    return 0


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from bot.lti.tool import ToolKeys

    if args.grace_days < 0:
        raise UsageError(f"--grace-days must not be negative, got {args.grace_days:g}")
    keys = ToolKeys(Path(settings.data_dir) / "lti", _engine(settings))
    kid, retired = keys.rotate(timedelta(days=args.grace_days))
    print(f"new signing key {kid}" + (f"; {len(retired)} older key(s) stay in the JWKS for "
                                      f"{args.grace_days:g} days" if retired else ""), file=sys.stderr)
    print(kid)
    return 0


def _info(args: argparse.Namespace, settings: Settings) -> int:
    from urllib.parse import urlsplit

    from bot.lti.tool import tool_urls

    parts = urlsplit(args.base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise UsageError(f"--base-url must look like https://casebot.example.edu, got {args.base_url!r}")
    urls = tool_urls(args.base_url.strip())
    if args.json:
        print(json.dumps({**urls, "custom_parameters": "case=<case id>"}))
        return 0
    width = 38
    lines = [
        "casebot as an LTI 1.3 tool: give these to the course platform.",
        "",
        f"{'OpenID Connect login URL (initiation):':<{width}} {urls['login']}",
        f"{'Redirect URI / target link URI:':<{width}} {urls['launch']}",
        f"{'Public keyset URL (JWKS):':<{width}} {urls['jwks']}",
        f"{'Deep linking URL (content selection):':<{width}} {urls['deep_linking']}",
        f"{'Domain:':<{width}} {urls['domain']}",
        f"{'Custom parameters:':<{width}} case=<case id>  (or pick the case by deep linking)",
        f"{'Signature method / algorithm:':<{width}} RS256",
        "",
        "Then register the platform here with the values it shows you:",
        "  casebot lti add-platform --issuer URL --client-id ID --deployment-id ID \\",
        "      --auth-login-url URL --auth-token-url URL --jwks-url URL",
    ]
    print("\n".join(lines))
    return 0
