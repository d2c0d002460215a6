"""The `adsvc sandbox` command: run the local Marketing API in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import date

from aiohttp import web

from adsvc.sandbox.data import SandboxConfig
from adsvc.sandbox.faults import PRESETS, FaultProfile
from adsvc.sandbox.graph import SANDBOX_ACCESS_TOKEN
from adsvc.sandbox.server import DEFAULT_VERSION, SANDBOX_STATE, create_sandbox_app

DEFAULT_PORT = 8900


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `sandbox` on the `adsvc` command's subparsers."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local Meta Marketing API sandbox",
        description="Serve a deterministic, seeded Meta Marketing (Graph) API on a local port until Ctrl-C. "
        "The official facebook-business SDK and adsvc's own client work against it unmodified.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})")
    parser.add_argument("--seed", type=int, default=7, help="data seed (default 7)")
    parser.add_argument("--accounts", type=int, default=3, help="ad accounts (default 3)")
    parser.add_argument("--campaigns", type=int, default=40, help="campaigns per account (default 40)")
    parser.add_argument("--days", type=int, default=400, help="days of insights ending yesterday (default 400)")
    parser.add_argument("--tier", choices=("standard", "development"), default="standard", help="API access tier")
    parser.add_argument("--faults", choices=PRESETS, default="none", metavar="PRESET",
                        help=f"fault preset: {', '.join(PRESETS)} (default none)")  # fmt: skip
    parser.add_argument("--restate-every", type=float, default=0.0, metavar="SECONDS",
                        help="bump the restatement version this often (default 0: never)")  # fmt: skip
    parser.set_defaults(func=cmd_sandbox)


def _restater(every: float) -> Callable[[web.Application], AsyncIterator[None]]:
    async def restate_periodically(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                app[SANDBOX_STATE].data.restate()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return restate_periodically


def build_app(args: argparse.Namespace) -> web.Application:
    config = SandboxConfig(
        seed=args.seed, accounts=args.accounts, campaigns_per_account=args.campaigns, days=args.days, tier=args.tier
    )
    app = create_sandbox_app(config, faults=FaultProfile.preset(args.faults))
    if args.restate_every > 0:
        app.cleanup_ctx.append(_restater(args.restate_every))
    return app


def cmd_sandbox(args: argparse.Namespace) -> None:
    try:
        app = build_app(args)
    except ValueError as exc:
        raise SystemExit(f"adsvc sandbox: {exc}") from None
    state = app[SANDBOX_STATE]
    base = f"http://{args.host}:{args.port}"
    print(f"adsvc sandbox: Graph API at {base}/{DEFAULT_VERSION}/  (control API: {base}/_sandbox/accounts)")
    print(f"  access token: {SANDBOX_ACCESS_TOKEN}")
    for account in state.data.accounts.values():
        print(f"  {account.id}  {account.currency}  {account.timezone_name}  {account.name}")
    print(
        f"  faults: {args.faults}; tier: {args.tier}; "
        f"daily insights {date.fromordinal(state.data.first_day)} to {date.fromordinal(state.data.last_day)}",
        flush=True,
    )
    web.run_app(app, host=args.host, port=args.port, print=None)
