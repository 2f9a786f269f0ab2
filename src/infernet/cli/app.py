"""The `infernet` command: one Typer app, one module per command group.

`infernet "prompt"` is short for `infernet chat "prompt"`, but a mistyped command must
never become a billed job: a first argument that is one bare word (`stauts`, `modle`)
is taken for a command and, when it is none, refused with exit 2 and the closest
command, never sent as a prompt. A one-word prompt goes through `infernet chat WORD`.
"""

from __future__ import annotations

import difflib
import re
import sys

import typer

from infernet.cli import (
    chat,
    config,
    cp,
    doctor,
    keys,
    lifecycle,
    logs,
    model,
    model_fit,
    node,
    node_owner,
    payments,
    publish,
    receipts,
    register,
    service,
    setup,
    status,
    train,
    up,
)
from infernet.cli.apikeys import app as apikey_app
from infernet.cli.common import Exit, fail

app = typer.Typer(
    name="infernet",
    help=(
        "Infernet: run a GPU node, a control plane, or send inference jobs.\n\n"
        "Quick start on one machine: `infernet up` runs a control plane and a node serving "
        'SmolLM2 through llama.cpp. `infernet "prompt"` is short for `infernet chat "prompt"`.\n\n'
        "Exit codes: 0 ok, 1 failed, 2 bad usage, 3 config/key problem, "
        "4 control plane unreachable or refused, 5 inference backend problem, 130 Ctrl-C."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
app.command("up")(up.up)
app.command("init")(node.init)
app.command("start")(node.start)
app.command("stop")(node.stop)
app.command("chat")(chat.chat)
app.add_typer(cp.app, name="cp")
app.command("setup")(setup.setup)
app.command("doctor")(doctor.doctor)
app.command("status")(status.status)
model.app.command("recommend")(model_fit.recommend_models)
model.app.command("info")(model_fit.info)
app.add_typer(model.app, name="model")
app.add_typer(apikey_app, name="apikey")
app.command("register")(register.register)
app.add_typer(keys.app, name="keys")
app.add_typer(node_owner.app, name="node")
app.command("payments")(payments.payments)
app.add_typer(payments.payout_app, name="payout")
app.add_typer(payments.price_app, name="price")
app.add_typer(receipts.app, name="receipts")
# Operating a node (docs/operations.md): service, logs, config, upgrade, remove.
app.add_typer(service.app, name="service")
app.command("logs")(logs.logs)
app.add_typer(config.app, name="config")
app.command("upgrade")(lifecycle.upgrade)
app.command("remove")(lifecycle.remove)
# Fine-tuning (Book §9.4, §9.5): the `train` extra.
app.add_typer(train.app, name="train")
app.command("publish")(publish.publish)


def _version(value: bool) -> None:
    if value:
        lifecycle.print_version()  # plus "up to date" when the control plane answers in 1 s
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Infernet command line."""


COMMAND_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def command_names() -> list[str]:
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    return sorted(n for n in names if n)


def not_a_command(word: str) -> str:
    """The usage error for a bare word that is no command, with the closest one."""
    close = difflib.get_close_matches(word.lower(), command_names(), n=1, cutoff=0.6)
    guess = f" Did you mean `infernet {close[0]}`?" if close else ""
    return (
        f"'{word}' is not an infernet command.{guess} `infernet --help` lists them; to "
        f"send '{word}' as a prompt, run `infernet chat {word}`."
    )


def main() -> None:
    argv = sys.argv[1:]
    first = argv[0] if argv else None
    if first is not None and not first.startswith("-") and first not in command_names():
        if COMMAND_LIKE.fullmatch(first):
            raise SystemExit(fail(not_a_command(first), Exit.USAGE).exit_code)
        sys.argv.insert(1, "chat")  # `infernet "prompt"` == `infernet chat "prompt"`
    elif first is None and not sys.stdin.isatty():
        sys.argv.insert(1, "chat")  # `echo prompt | infernet`
    app()
