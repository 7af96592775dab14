"""Operator commands (``flask --app services.submission.app:create_app <command>``): the registry and accounts."""
from __future__ import annotations

import csv
from pathlib import Path

import click
from flask import current_app

from shared.errors import NccError
from shared.keys import REGISTRY_STREAM
from shared.schemas import AccountCreatedV1, SupervisorAssignedV1, UnitRegisteredV1

from . import handlers
from .service import fingerprint

operator_option = click.option("--operator", required=True,
                               help="the operator's username, recorded as the events' actor")


def record(stream: str, decide, cmd: dict, operator: str, *, quiet_no_change: bool = False):
    """Run one command through the write service as an operator; None when it changed nothing."""
    service = current_app.extensions["ncc"]["service"]
    try:
        return service.execute(stream, lambda s, ctx: decide(s, cmd, ctx),
                               actor={"username": operator, "role": "operator"},
                               fp=fingerprint("CLI", decide.__name__, cmd)).body
    except NccError as exc:
        if quiet_no_change and getattr(exc, "rule", None) == "no_change":
            return None
        raise click.ClickException(exc.message) from None


def _valid(schema, data: dict) -> dict:
    errors = schema().validate(data)
    if errors:
        raise click.BadParameter(f"{data}: {errors}")
    return data


@click.command("import-units")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--province", default=None, help="province for rows without one")
@operator_option
def import_units(csv_file, province, operator):
    """Register the units of CSV_FILE (columns code, name_th, kind[, province]); unchanged ones are skipped."""
    with csv_file.open(encoding="utf-8-sig", newline="") as f:
        rows = [_valid(UnitRegisteredV1, {"code": r["code"].strip(), "name_th": r["name_th"].strip(),
                                          "kind": r["kind"].strip(), "province": r.get("province") or province})
                for r in csv.DictReader(f)]
    changed = 0
    with click.progressbar(rows, label="registering units") as bar:
        for row in bar:
            changed += record(REGISTRY_STREAM, handlers.register_unit, row, operator, quiet_no_change=True) is not None
    click.echo(f"{changed} units registered or updated, {len(rows) - changed} unchanged")


@click.command("create-account")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["unit", "supervisor", "nacc", "auditor", "operator"]))
@click.option("--name", default=None, help="who the account is for")
@operator_option
def create_account(username, role, name, operator):
    """Create an account (then issue it an activation code with issue-codes)."""
    cmd = _valid(AccountCreatedV1, {"username": username, "role": role, "name": name, "demo": False})
    answer = record(REGISTRY_STREAM, handlers.create_account, cmd, operator)
    click.echo(f"account {username} ({role}) created at registry version {answer['version']}")


@click.command("create-unit-accounts")
@operator_option
def create_unit_accounts(operator):
    """Create an account for every registered unit that has none (username = the unit code)."""
    registry = current_app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
    missing = [code for code in sorted(registry.units) if code not in registry.accounts]
    with click.progressbar(missing, label="creating unit accounts") as bar:
        for code in bar:
            record(REGISTRY_STREAM, handlers.create_account,
                   {"username": code, "role": "unit", "name": registry.units[code]["name_th"], "demo": False}, operator)
    click.echo(f"{len(missing)} unit accounts created")


@click.command("assign-supervisor")
@click.argument("supervisor")
@click.argument("units", nargs=-1, required=True)
@click.option("--reason", default=None, help="why (kept in the history)")
@click.option("--unassign", is_flag=True, help="take the units away instead")
@operator_option
def assign_supervisor(supervisor, units, reason, unassign, operator):
    """Put UNITS (7-digit codes) under SUPERVISOR's oversight, as an event in the registry stream."""
    cmd = _valid(SupervisorAssignedV1, {"supervisor": supervisor, "units": list(units), "reason": reason})
    answer = record(REGISTRY_STREAM, handlers.unassign_units if unassign else handlers.assign_units, cmd, operator)
    click.echo(f"{answer['type']} at registry version {answer['version']}")


COMMANDS = [import_units, create_account, create_unit_accounts, assign_supervisor]
