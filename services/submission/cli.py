"""Operator commands (``flask --app services.submission.app:create_app <command>``): the registry and accounts."""
from __future__ import annotations

import csv
import os
from importlib import resources
from pathlib import Path

import click
from flask import current_app

from shared.errors import NccError
from shared.fiscal import bangkok_iso
from shared.keys import REGISTRY_STREAM, security_stream
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


def _rows(csv_file: Path, required: set, named: str) -> list[dict]:
    """The CSV's rows, trimmed; a ClickException naming the ``named`` columns when a ``required`` one is missing."""
    with csv_file.open(encoding="utf-8-sig", newline="") as f:
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in csv.DictReader(f)]
    if rows and not required <= set(rows[0]):
        raise click.ClickException(f"{csv_file} needs the columns {named} (it has {', '.join(rows[0])}); "
                                   "nothing was written")
    return rows


@click.command("import-units")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--province", default=None, help="province for rows without one")
@operator_option
def import_units(csv_file, province, operator):
    """Register the units of CSV_FILE (columns code, name_th, kind[, province][, supervisor]); unchanged ones are
    skipped. A ``supervisor`` column puts each unit under that supervisory unit (taking it from any other); every
    row is checked before anything is written."""
    raw = _rows(csv_file, {"code", "name_th", "kind"}, "code, name_th, kind")
    rows = [_valid(UnitRegisteredV1, {"code": r.get("code", ""), "name_th": r.get("name_th", ""),
                                      "kind": r.get("kind", ""), "province": r.get("province") or province})
            for r in raw]
    placed = {r["code"]: r["supervisor"] for r in raw if r.get("supervisor")}
    registry = current_app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
    unknown = sorted({s for s in placed.values() if not registry.is_supervisor(s)})
    if unknown:
        raise click.ClickException(f"no supervisor account {', '.join(unknown)}: import the supervisors first "
                                   "(import-supervisors); nothing was written")
    changed = 0
    with click.progressbar(rows, label="registering units") as bar:
        for row in bar:
            changed += record(REGISTRY_STREAM, handlers.register_unit, row, operator, quiet_no_change=True) is not None
    click.echo(f"{changed} units registered or updated, {len(rows) - changed} unchanged")
    if placed:
        moved = place_units(placed, operator)
        click.echo(f"{moved} units put under their supervisors")


def place_units(placed: dict[str, str], operator: str) -> int:
    """Put each unit under its supervisor alone: one SupervisorUnassigned per supervisor losing units, then one
    SupervisorAssigned per supervisor gaining some. Returns how many units moved."""
    registry = current_app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
    losing: dict[str, list] = {}
    gaining: dict[str, list] = {}
    for code, supervisor in placed.items():
        for other in registry.overseers_of(code):
            if other != supervisor:
                losing.setdefault(other, []).append(code)
        if supervisor not in registry.overseers_of(code):
            gaining.setdefault(supervisor, []).append(code)
    batches = [(handlers.unassign_units, s, codes) for s, codes in sorted(losing.items())] + [
        (handlers.assign_units, s, codes) for s, codes in sorted(gaining.items())]
    with click.progressbar(batches, label="placing units under their supervisors") as bar:
        for decide, supervisor, codes in bar:
            for first in range(0, len(codes), 10000):
                record(REGISTRY_STREAM, decide, {"supervisor": supervisor, "units": sorted(codes[first:first + 10000]),
                                                 "reason": "import"}, operator)
    return sum(len(codes) for codes in gaining.values())


@click.command("import-supervisors")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@operator_option
def import_supervisors(csv_file, operator):
    """Create the supervisory units of CSV_FILE (columns username, name, parent: a supervisor's username, in the
    file or already registered; empty: directly under NACC) and put each under its parent. The whole tree is
    checked first (unknown parents, cycles, accounts of another role): on any problem nothing is written."""
    rows = _rows(csv_file, {"username", "parent"}, "username, name, parent")
    registry = current_app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
    problems, seen = [], set()
    for n, row in enumerate(rows, start=2):
        name = row.get("username", "")
        if AccountCreatedV1().validate({"username": name, "role": "supervisor", "name": row.get("name") or None,
                                        "demo": False}):
            problems.append(f"line {n}: {name!r} is not a valid username")
        elif name in seen:
            problems.append(f"line {n}: {name} appears twice")
        elif name in registry.accounts and not registry.is_supervisor(name):
            problems.append(f"line {n}: {name} is an account of role {registry.accounts[name]['role']}")
        seen.add(name)
    parents = dict(registry.parents)
    parents.update({r["username"]: r["parent"] for r in rows if r.get("parent")})
    for r in rows:
        if not r.get("parent"):
            parents.pop(r["username"], None)
    for n, row in enumerate(rows, start=2):
        parent = row.get("parent")
        if parent and parent not in seen and not registry.is_supervisor(parent):
            problems.append(f"line {n}: the parent {parent!r} of {row.get('username')} is no supervisor")
    depth = {}
    for row in rows:
        chain, at = [], row.get("username")
        while at in parents and at not in chain:
            chain.append(at)
            at = parents[at]
        if at in chain:
            problems.append(f"{row['username']}: the tree would have a cycle ({' -> '.join(chain + [at])})")
        depth[row.get("username")] = len(chain)
    if problems:
        raise click.ClickException("nothing was written:\n  " + "\n  ".join(problems))
    created = 0
    with click.progressbar(rows, label="creating supervisory units") as bar:
        for row in bar:
            if row["username"] not in registry.accounts:
                record(REGISTRY_STREAM, handlers.create_account, {"username": row["username"], "role": "supervisor",
                                                                  "name": row.get("name") or None, "demo": False},
                       operator)
                created += 1
    moved = 0
    ordered = sorted(rows, key=lambda r: depth[r["username"]])          # parents are in place before children
    with click.progressbar(ordered, label="building the tree") as bar:
        for row in bar:
            moved += record(REGISTRY_STREAM, handlers.set_parent, {"supervisor": row["username"],
                                                                   "parent": row.get("parent") or None,
                                                                   "reason": "import"},
                            operator, quiet_no_change=True) is not None
    click.echo(f"{created} supervisory units created, {moved} put under a new parent")


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


def issue(usernames, operator: str, out: Path) -> list[dict]:
    """Issue activation codes and write them to a CSV (mode 600) for distribution; codes are kept nowhere else."""
    ext = current_app.extensions["ncc"]
    registry = ext["service"].load(REGISTRY_STREAM)
    rows = []
    for username in usernames:
        account = registry.accounts.get(username)
        if account is None:
            raise click.ClickException(f"no account {username!r}: create it first")
        code, expires = ext["accounts"].issue_code(username, account["role"], ext["service"].clock())
        record(security_stream(username), lambda s, cmd, ctx: handlers.Decision("ActivationCodeIssued", cmd),
               {"username": username, "client": "operator-cli", "reason": None, "expires_at": bangkok_iso(expires)},
               operator)
        rows.append({"username": username, "role": account["role"], "name": account.get("name") or "",
                     "activation_code": code, "expires_at": bangkok_iso(expires)})
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8-sig",
              newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["username", "role", "name", "activation_code", "expires_at"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


@click.command("issue-codes")
@click.argument("usernames", nargs=-1)
@click.option("--all-inactive", is_flag=True, help="every account that is not active yet")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write the codes to (readable by its owner only)")
@operator_option
def issue_codes(usernames, all_inactive, out, operator):
    """Issue single-use, expiring activation codes (also to reset an account: its password and tokens stop working)."""
    ext = current_app.extensions["ncc"]
    names = list(usernames)
    if all_inactive:
        registry = ext["service"].load(REGISTRY_STREAM)
        names += [u for u in sorted(registry.accounts)
                  if (ext["accounts"].get(u) or {}).get("status") != "active" and u not in names]
    if not names:
        raise click.UsageError("name the accounts, or use --all-inactive")
    rows = issue(names, operator, out)
    click.echo(f"{len(rows)} activation codes written to {out}")


DEMO_SUPERVISORS = ("demo-sup-01", "demo-sup-02", "demo-sup-03")
DEMO_TOP = "demo-sup-bma"                  # over the three: a two-level demo tree


@click.command("demo-data")
@click.option("--out", default="var/demo-activation-codes.csv", type=click.Path(dir_okay=False, path_type=Path))
@operator_option
def demo_data(out, operator):
    """DEMO ONLY: the 77 Bangkok units, three demo supervisors under a fourth, demo NACC and auditor accounts,
    with codes."""
    ext = current_app.extensions["ncc"]
    if "demo-nacc" in ext["service"].load(REGISTRY_STREAM).accounts:
        click.echo(f"demo data already loaded (codes were written to {out})")
        return
    with resources.files("shared.data").joinpath("bma_units.csv").open(encoding="utf-8") as f:
        units = [{"code": r["code"], "name_th": r["name_th"], "kind": r["kind"], "province": "กรุงเทพมหานคร"}
                 for r in csv.DictReader(f)]
    with click.progressbar(units, label="demo: registering the 77 Bangkok units") as bar:
        for unit in bar:
            record(REGISTRY_STREAM, handlers.register_unit, unit, operator, quiet_no_change=True)
            record(REGISTRY_STREAM, handlers.create_account, {"username": unit["code"], "role": "unit",
                                                              "name": unit["name_th"], "demo": True}, operator)
    people = [(DEMO_TOP, "supervisor", "กรุงเทพมหานคร หน่วยกำกับดูแลระดับบน (สาธิต)")] + [
        (u, "supervisor", f"หน่วยกำกับดูแล (สาธิต) {u[-2:]}") for u in DEMO_SUPERVISORS] + [
        ("demo-nacc", "nacc", "สำนักงาน ป.ป.ช. (สาธิต)"), ("demo-auditor", "auditor", "ผู้ตรวจสอบ (สาธิต)")]
    for username, role, name in people:
        record(REGISTRY_STREAM, handlers.create_account, {"username": username, "role": role, "name": name,
                                                          "demo": True}, operator)
    codes = [u["code"] for u in units]
    for n, supervisor in enumerate(DEMO_SUPERVISORS):
        record(REGISTRY_STREAM, handlers.assign_units, {"supervisor": supervisor, "units": codes[n::3],
                                                        "reason": "demo data"}, operator)
        record(REGISTRY_STREAM, handlers.set_parent, {"supervisor": supervisor, "parent": DEMO_TOP,
                                                      "reason": "demo data"}, operator)
    rows = issue([u["code"] for u in units] + [p[0] for p in people], operator, out)
    click.echo(f"DEMO data loaded: 77 units, {len(people)} other accounts; activation codes in {out}")
    for row in rows[-len(people):] + rows[:1]:
        click.echo(f"  {row['username']:14} {row['role']:10} {row['activation_code']}")


@click.command("reset-2fa")
@click.argument("username")
@click.option("--reason", required=True, help="why (recorded in the account's security events)")
@operator_option
def reset_2fa(username, reason, operator):
    """Remove USERNAME's two-factor sign-in (a lost phone and recovery codes): the person enrols again at sign-in.
    The way back in for the last operator, who cannot sign in to use the API's reset."""
    from .auth_api import reset_account_two_factor
    try:
        reset_account_two_factor(username, reason, operator, client="operator-cli")
    except NccError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{username}: two-factor sign-in reset")


COMMANDS = [import_units, import_supervisors, create_account, create_unit_accounts, assign_supervisor, issue_codes,
            demo_data, reset_2fa]
