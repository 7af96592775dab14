"""Auditors' and operators' commands on the log: ``python -m services.tracker.cli verify-all | export``."""
from __future__ import annotations

import sys

import click
import redis as redis_lib

from shared.config import from_env
from shared.keys import Keys
from shared.streams import read_entries, verify_stream

from .store import ReadModels


def _store():
    settings = from_env()
    return redis_lib.Redis.from_url(settings.redis_url), Keys(settings.key_prefix, settings.partitions)


@click.group()
def main():
    """Commands on the event log (configuration from the environment, as the services)."""


@main.command("verify-all")
def verify_all():
    """Verify every stream's hash chain; list the bad ones with the first bad version and why (exit 1)."""
    redis, keys = _store()
    streams = ReadModels(redis, keys).streams()
    bad, events = [], 0
    with click.progressbar(streams, label="verifying", file=sys.stderr) as bar:
        for stream in bar:
            result = verify_stream(redis, keys, stream)
            events += result["events_checked"]
            if not result["ok"]:
                bad.append((stream, result))
    for stream, result in bad:
        click.echo(f"BAD {stream}: version {result['first_bad_version']}: {result['reason']}")
    click.echo(f"{len(streams)} streams, {events} events checked, {len(bad)} bad")
    sys.exit(1 if bad else 0)


@main.command("export")
@click.argument("streams", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="every stream")
@click.option("--out", required=True, type=click.File("w", encoding="utf-8"), help="JSON Lines file ('-' for stdout)")
def export(streams, everything, out):
    """Write streams' full histories as JSON Lines, exactly as stored (verify with: python -m shared.offline)."""
    redis, keys = _store()
    names = ReadModels(redis, keys).streams() if everything else list(streams)
    if not names:
        raise click.UsageError("name the streams (unit codes), or use --all")
    count = 0
    with click.progressbar(names, label="exporting", file=sys.stderr) as bar:
        for stream in bar:
            for _entry, raw in read_entries(redis, keys, stream):
                out.write(raw.decode("utf-8") + "\n")
                count += 1
    click.echo(f"{count} events of {len(names)} streams exported", err=True)


@main.command("rebuild")
@click.argument("streams", nargs=-1)
def rebuild(streams):
    """Rebuild read models from the log (the named streams, or every one), each in one atomic step."""
    from .jobs import Tracker

    settings = from_env()
    tracker = Tracker(redis_lib.Redis.from_url(settings.redis_url), settings)
    names = list(streams) or tracker.models.streams()
    with click.progressbar(length=len(names), label="rebuilding", file=sys.stderr) as bar:
        result = tracker.rebuild(names, lambda done, total: bar.update(1))
    click.echo(f"{result['streams']} streams rebuilt, {result['events']} events folded")


if __name__ == "__main__":
    main()
