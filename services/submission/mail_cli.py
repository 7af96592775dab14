"""Operator commands for e-mail: the outbox's state and its failed messages, and an account's address."""
from __future__ import annotations

import click
from flask import current_app

from shared.errors import NccError

from .cli import operator_option


@click.command("outbox")
@click.option("--retry-failed", is_flag=True, help="put every failed message back in line, attempts from zero")
@click.option("--limit", default=50, show_default=True, help="failed messages to list")
def outbox(retry_failed, limit):
    """The e-mail outbox: messages waiting, sent and failed, and each failed one with the server's last answer."""
    box = current_app.extensions["ncc"]["outbox"]
    if retry_failed:
        click.echo(f"{box.retry_failed()} failed messages put back in line")
    stats = box.stats()
    click.echo(f"waiting: {stats['pending']} (oldest {stats['oldest_pending_seconds']:.0f} s)  "
               f"sent: {stats['sent_total']}  failed: {stats['failed']}  "
               f"failed attempts: {stats['failed_attempts_total']}")
    for m in box.failed_messages(limit):
        click.echo(f"  {m['message_id']}  to {m.get('to')}  {m.get('attempts')} attempts, failed {m.get('failed_at')}: "
                   f"{m.get('last_error')}")


@click.command("set-email")
@click.argument("username")
@click.argument("email", required=False)
@click.option("--remove", is_flag=True, help="remove the account's address instead")
@operator_option
def set_email(username, email, remove, operator):
    """Set USERNAME's e-mail address to EMAIL, confirmed at once (the operator vouches for it), or --remove it."""
    from .auth_api import set_account_email
    if bool(email) == remove:
        raise click.UsageError("give EMAIL or --remove")
    try:
        answer = set_account_email(username, None if remove else email, operator, client="operator-cli")
    except NccError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{username}: {answer['email'] or 'no address'}")


COMMANDS = [outbox, set_email]
