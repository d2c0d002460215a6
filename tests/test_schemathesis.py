"""schemathesis against a live server (a separate `adsvc serve` process), driven by the served OpenAPI document, with
every check on, as an administrator and as a plain user: no server errors, no response outside the documented
schemas and statuses, and the document says what the server refuses. The few documented-valid inputs the server
rightly refuses for reasons JSON Schema cannot state are listed below, each with its reason; any other refusal fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis as redis_sync
from accounts.helpers import insert_account_with_objects
from factories import bearer, create_user

pytestmark = pytest.mark.slow

ST = str(Path(sys.executable).parent / "st")
# 15 examples per operation and phase keep the three runs near a minute on a 2-core machine
# The rule body's rules between fields (oneOf all/any and percent/amount, scope level against action type) are met
# by filtering generated bodies, which hypothesis's filter_too_much health check flags: it is suppressed for that.
COMMON = ["--checks", "all", "--max-examples", "15", "--seed", "20261204", "--no-color", "--output-truncate", "false",
          "--report", "ndjson", "--suppress-health-check", "filter_too_much"]  # fmt: skip
# Left out of the main runs, and why:
EXCLUDED = [
    # these two end the token they are called with: they run last, in a run of their own
    "--exclude-operation-id", "auth-logout", "--exclude-operation-id", "auth-change-password",
    # without an n8n server configured (as here) they answer 503 by design; tests/webhooks drives them against an
    # n8n double
    "--exclude-path-regex", "^/api/v1/admin/n8n/",
]  # fmt: skip
TOKEN_ENDING = ["--include-operation-id", "auth-logout", "--include-operation-id", "auth-change-password"]


@dataclass(frozen=True)
class Refusal:
    """A documented-valid input the server refuses on purpose, recognised by its error message."""

    reason: str
    message: str  # a regular expression over the error's message and details
    operations: tuple[str, ...]


# At most five kinds, each a rule JSON Schema cannot express.
REFUSED_ON_PURPOSE = (
    Refusal(
        "valid only against state held by the server or by Meta: Meta validates a new access token (and the account "
        "id); an account's stored token must still be usable; a cursor must be one the server handed out; a rule "
        "PATCH must leave a valid rule once merged with the stored one; an Idempotency-Key must not already stand "
        "for a different request; a member is added by the email of an existing adsvc user",
        r"Meta rejected|meta_auth|meta_token|cursor|the rule would not be valid with these changes|"
        r"Idempotency-Key already created|unknown_user",
        (
            "POST /api/v1/ad-accounts",
            "POST /api/v1/ad-accounts/{account_id}/members",
            "GET /api/v1/campaigns",
            "GET /api/v1/adsets",
            "GET /api/v1/ads",
            "POST /api/v1/automation/rules",
            "PATCH /api/v1/automation/rules/{rule_id}",
            "POST /api/v1/automation/pause-underperforming",
            "POST /api/v1/automation/optimize-budgets",
            "POST /api/v1/automation/reallocation-plan",
            "POST /api/v1/automation/rules/{rule_id}/run",
            "POST /api/v1/suggestions/{suggestion_id}/apply",
            "POST /api/v1/automation/actions/{action_id}/revert",
        ),
    ),
    Refusal(
        "one value of the request is compared with another, or with today: until not before since (and a period of "
        "at most 1147 days; a backtest's until not after the account's today), min_budget not above max_budget; JSON "
        "Schema cannot compare two values, so the descriptions say it; two conversion action types that count the "
        "same conversions (a family's overlapping names) are refused",
        r"until is before since|until is after today|spans at most|object-days|min_budget is above max_budget|"
        r"invalid_conversion_types",
        (
            "PATCH /api/v1/ad-accounts/{account_id}",
            "GET /api/v1/analytics/dashboard",
            "GET /api/v1/analytics/performance",
            "GET /api/v1/campaigns/{campaign_id}/insights",
            "GET /api/v1/metrics/ad-performance",
            "POST /api/v1/automation/rules/{rule_id}/backtest",
            "POST /api/v1/automation/rules",
            "PATCH /api/v1/automation/rules/{rule_id}",
        ),
    ),
    Refusal(
        "a webhook URL's host must be a real address and resolve to one we may call (DNS, at request time)",
        r"resolves to|cannot be resolved|webhook_url_refused",
        ("POST /api/v1/webhooks", "PATCH /api/v1/webhooks/{webhook_id}"),
    ),
    Refusal(
        "a password must not contain the part of the email before the @, and the email must be deliverable by "
        "email-validator's rules (both need more than one field or a mail library)",
        r"email name|not a valid email address",
        ("POST /api/v1/admin/users", "POST /api/v1/auth/change-password"),
    ),
)


@dataclass
class Failure:
    check: str
    operation: str
    status: int | None
    body: str

    def refusal(self) -> Refusal | None:
        if self.check != "positive_data_acceptance":
            return None
        for refusal in REFUSED_ON_PURPOSE:
            if self.operation in refusal.operations and re.search(refusal.message, self.body):
                return refusal
        return None


def _failures(report_dir: Path) -> tuple[list[Failure], list[str]]:
    failures: list[Failure] = []
    errors: list[str] = []
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if "NonFatalError" in event:
                errors.append(str(event["NonFatalError"].get("info", event))[:500])
            recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
            for case_id, checks in recorder.get("checks", {}).items():
                for check in checks:
                    if check["status"] != "failure":
                        continue
                    response = (recorder.get("interactions", {}).get(case_id) or {}).get("response") or {}
                    content = (response.get("content") or {}).get("$base64")
                    failures.append(
                        Failure(
                            check=check["name"],
                            operation=check["failure_info"]["failure"].get("operation") or recorder.get("label", ""),
                            status=response.get("status_code"),
                            body=base64.b64decode(content).decode(errors="replace") if content else "",
                        )
                    )
    return failures, errors


async def _token(base: str, email: str, password: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + "/api/v1/auth/login", json={"email": email, "password": password}) as response,
    ):
        assert response.status == 200
        return str((await response.json())["access_token"])


async def _run(
    base: str, token: str, config: Path, report_dir: Path, *args: str
) -> tuple[str, list[Failure], list[str]]:
    """schemathesis as a child process, awaited: the sandbox serving the server's Meta calls lives on this loop."""
    command = [ST, "--config-file", str(config), "run", base + "/api/openapi.json",
               "-H", f"Authorization: Bearer {token}", *COMMON, "--report-dir", str(report_dir), *args]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 240)
    failures, errors = _failures(report_dir)
    return stdout.decode(errors="replace"), failures, errors


def _judge(output: str, failures: list[Failure], errors: list[str]) -> set[str]:
    unexplained = [f for f in failures if f.refusal() is None]
    assert not errors, errors
    assert not unexplained, "\n".join(f"{f.check} {f.operation} [{f.status}] {f.body[:300]}" for f in unexplained)
    assert "generated" in output, output[-3000:]
    return {refusal.reason for f in failures if (refusal := f.refusal()) is not None}


def test_the_list_of_refusals_is_short():
    assert len(REFUSED_ON_PURPOSE) <= 5


async def _seed(db, user_id: int, base: str, token: str, config: Path) -> None:
    """An account of the caller's own with a campaign, an ad set, an ad and 30 days of insights, and a rule on it;
    their ids go to schemathesis as a dictionary it draws from half the time, so operations get past their 404s."""
    objects = await insert_account_with_objects(db, user_id=user_id)
    async with aiohttp.ClientSession() as session:
        rule = {
            "account_id": objects.account_id,
            "name": "seeded",
            "scope": {"level": "campaign"},
            "conditions": {"all": [{"metric": "ctr", "operator": "lt", "value": 1}]},
            "action": {"type": "pause"},
        }
        async with session.post(base + "/api/v1/automation/rules", json=rule, headers=bearer(token)) as response:
            assert response.status == 201, await response.text()
            rule_id = (await response.json())["id"]
    dictionaries = {
        "accounts": [objects.account_id, f"act_{objects.account_id}"],
        "campaigns": [objects.campaign_id],
        "adsets": [objects.adset_id],
        "ads": [objects.ad_id],
        "rules": [rule_id],
    }
    lines = [f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n" for name, values in dictionaries.items()]
    lines.append("[parameters]")
    for key, name in (("path.account_id", "accounts"), ("body.account_id", "accounts"),
                      ("path.campaign_id", "campaigns"), ("path.adset_id", "adsets"), ("path.ad_id", "ads"),
                      ("path.rule_id", "rules")):  # fmt: skip
        lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
    # A rule PATCH has eight optional fields over recursive condition groups: the coverage phase's combinations of
    # them cost half a minute alone, so that operation gets the fuzzing and stateful phases only.
    lines.append('[[operations]]\ninclude-operation-id = "update-automation-rule"\n[operations.phases.coverage]')
    lines.append("enabled = false")
    config.write_text("\n".join(lines) + "\n")


async def test_schemathesis_as_admin_and_as_user_finds_only_the_listed_refusals(
    db, settings, stack, other_process, tmp_path
):
    seen: set[str] = set()
    # each run has a caller of its own, created just before it: the admin run may disable any user it can list
    for name, is_admin, scope in (
        ("admin", True, EXCLUDED),
        ("user", False, EXCLUDED),
        ("token-ending", True, TOKEN_ENDING),
    ):
        password = f"schemathesis {name} pass"
        caller = await create_user(db, settings, is_admin=is_admin, password=password)
        redis_sync.Redis.from_url(stack.redis_url).flushdb()  # fuzzed logins trip the address throttle
        token = await _token(other_process, caller.email, password)
        config = tmp_path / f"{name}.toml"
        await _seed(db, caller.id, other_process, token, config)
        output, failures, errors = await _run(other_process, token, config, tmp_path / name, *scope)
        seen |= _judge(output, failures, errors)
    print("documented-valid inputs refused on purpose:", *sorted(seen) or ["none"], sep="\n- ")
