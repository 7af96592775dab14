"""Operator command: archive the events of closed plan cycles out of Redis into sealed segments."""
from __future__ import annotations

import sys
import click
from flask import current_app

from shared import fiscal
from shared.archive import ArchiveStore

from .archiver import Archiver
from .cli import operator_option


@click.command("archive")
@click.argument("streams", nargs=-1)
@click.option("--after-days", type=int, default=None,
              help="archive cycles closed at least this many days (default NCC_ARCHIVE_AFTER_DAYS)")
@click.option("--as-of", "as_of", default=None,
              help="count the days to this instant instead of now (ISO 8601; a drill on a copy, or a test)")
@operator_option
def archive(streams, after_days, as_of, operator):
    """Move the events of every unit whose plan cycle has been closed long enough (or of the units named) out of
    Redis into sealed, compressed segments under NCC_ARCHIVE_URL; each one's ArchiveSealed event continues the
    unit's chain. Safe to run again, or after a crash: nothing is archived twice or lost."""
    service = current_app.extensions["ncc"]["service"]
    settings = service.settings
    try:
        now = fiscal.parse_instant(as_of) if as_of else service.clock()
    except ValueError:
        raise click.BadParameter(f"{as_of!r} is not an ISO 8601 instant with an offset", param_hint="--as-of")
    days = settings.archive_after_days if after_days is None else after_days
    archiver = Archiver(service, ArchiveStore(settings.archive_store_url), operator)
    names = list(streams) or archiver.streams()
    counts: dict = {}
    failed = 0
    with click.progressbar(names, label="archiving", file=sys.stderr) as bar:
        for stream in bar:
            try:
                outcome = archiver.archive(stream, now, days)
            except Exception as exc:  # noqa: BLE001 - one stream's trouble is reported, the others go on
                failed += 1
                click.echo(f"\n{stream}: not archived: {exc}", err=True)
                continue
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("archived", "finished", "current", "open", "moved"))
    click.echo(f"{len(names)} streams: {summary}, {failed} failed (cycles closed {days} days by "
               f"{fiscal.bangkok_iso(now)}; "
               f"segments in {settings.archive_store_url})")
    sys.exit(1 if failed else 0)


COMMANDS = [archive]
