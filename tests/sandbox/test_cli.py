"""`adsvc sandbox`: its arguments, the app they build, and the periodic restatement."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import pytest

from adsvc.sandbox import SANDBOX_STATE
from adsvc.sandbox.cli import add_parser, build_app, cmd_sandbox


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="adsvc")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["sandbox", *argv])


def test_defaults() -> None:
    args = _parse()
    assert (args.host, args.port, args.seed, args.accounts, args.campaigns, args.days) == (
        "127.0.0.1",
        8900,
        7,
        3,
        40,
        400,
    )
    assert args.faults == "none" and args.restate_every == 0 and args.func is cmd_sandbox


def test_arguments_shape_the_app() -> None:
    args = _parse("--seed", "3", "--accounts", "2", "--campaigns", "5", "--days", "30", "--faults", "hostile")
    state = build_app(args)[SANDBOX_STATE]
    assert (state.config.seed, state.config.accounts, state.config.campaigns_per_account, state.config.days) == (
        3,
        2,
        5,
        30,
    )
    assert state.faults.profile.transient_rate > 0 and len(state.data.accounts) == 2


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(SystemExit):
        _parse("--faults", "apocalypse")


async def test_restate_every_bumps_the_version(aiohttp_client: Any) -> None:
    app = build_app(_parse("--accounts", "1", "--campaigns", "2", "--days", "10", "--restate-every", "0.01"))
    await aiohttp_client(app)
    for _ in range(200):
        if app[SANDBOX_STATE].data.restatement_version >= 2:
            break
        await asyncio.sleep(0.01)
    assert app[SANDBOX_STATE].data.restatement_version >= 2
