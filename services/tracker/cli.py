"""Auditors' and operators' commands on the log: ``python -m services.tracker.cli verify-all | export``."""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import click

from shared.connections import store_client
from shared.config import from_env
from shared.keys import Keys
from shared.evidence import EvidenceStore
from shared.streams import read_entries, verify_stream

from .store import ReadModels


def _store():
    settings = from_env()
    return store_client(settings), Keys(settings.key_prefix, settings.partitions)


@click.group()
def main():
    """Commands on the event log (configuration from the environment, as the services)."""


jobs_option = click.option("--jobs", type=click.IntRange(1, 64), default=min(os.cpu_count() or 1, 64), show_default=True,
                           help="processes to share the streams among, by partition (1: this process alone)")


def _tasks(keys: Keys, streams: list[str], size: int = 200) -> list[list[str]]:
    """The streams split by partition, in pieces of at most ``size``: each piece is one process's task."""
    by_partition: dict[int, list[str]] = {}
    for stream in streams:
        by_partition.setdefault(keys.partition_of(stream), []).append(stream)
    return [part[i:i + size] for _p, part in sorted(by_partition.items()) for i in range(0, len(part), size)]


def _run(work, tasks: list[list[str]], jobs: int, label: str):
    """Each task's result, in any order, with a progress bar over the streams: in this process (``jobs`` 1) or
    in ``jobs`` fresh processes (spawned, so none inherits this one's Redis connections)."""
    with click.progressbar(length=sum(map(len, tasks)), label=label, file=sys.stderr) as bar:
        if jobs == 1:
            for task in tasks:
                yield work(task)
                bar.update(len(task))
            return
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for task, result in zip(tasks, pool.map(work, tasks)):
                yield result
                bar.update(len(task))


def _verify_task(streams: list[str]) -> tuple[int, list]:
    """One task of verify-all: events checked, and the bad streams with their results."""
    redis, keys = _store()
    files = EvidenceStore(from_env().evidence_store_url)
    events, bad = 0, []
    for stream in streams:
        result = verify_stream(redis, keys, stream, files)
        events += result["events_checked"]
        if not result["ok"]:
            bad.append((stream, result))
    return events, bad


@main.command("verify-all")
@jobs_option
def verify_all(jobs):
    """Verify every stream's hash chain and the evidence files its events attached; list the bad ones with the
    first bad version and why (exit 1)."""
    redis, keys = _store()
    streams = ReadModels(redis, keys).streams()
    bad, events = [], 0
    for checked, found in _run(_verify_task, _tasks(keys, streams), jobs, "verifying"):
        events += checked
        bad += found
    for stream, result in sorted(bad):
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


def _rebuild_task(streams: list[str]) -> int:
    """One task of rebuild: the streams' read models replaced, events folded."""
    from .jobs import Tracker

    settings = from_env()
    return Tracker(store_client(settings), settings).rebuild(streams)["events"]


@main.command("rebuild")
@click.argument("streams", nargs=-1)
@jobs_option
def rebuild(streams, jobs):
    """Rebuild read models from the log (the named streams, or every one), each in one atomic step; the streams
    shared among processes by partition, with the same result as one process."""
    redis, keys = _store()
    names = list(streams) or ReadModels(redis, keys).streams()
    events = sum(_run(_rebuild_task, _tasks(keys, names), jobs, "rebuilding"))
    click.echo(f"{len(names)} streams rebuilt, {events} events folded")


if __name__ == "__main__":
    main()
