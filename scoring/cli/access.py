"""Users and the query register (查询使用登记): ``scoring users add|token|revoke|list``,
``scoring register verify|export|prune``. Passwords are prompted for (hidden) or read from a file,
never given on the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from scoring.cli.common import JsonOpt, ServingOpt, emit_fields, emit_frame, emit_json, emit_text, group
from scoring.core.errors import InputFileError

users_app = group("Users of the platform service (roles, scopes) and their API tokens.")
register_app = group("The query register (查询使用登记): verify its hash chain, export it, prune it.")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(register_app, name="register")


def _read_password(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such password file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read the password file: {exc}") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


@users_app.command("add")
def users_add_cmd(
    username: str = typer.Argument(..., metavar="USERNAME", help="Login name (letters, digits, . _ - @)."),
    role: str = typer.Option(
        ..., "--role", metavar="ROLE", help="citizen, regulator, officer, analyst, auditor or admin."
    ),
    industry: list[str] = typer.Option(
        [], "--industry", metavar="CODE", help="A regulator's industry (repeat; '*' for all)."
    ),
    region: list[str] = typer.Option(
        [], "--region", metavar="CODE", help="A regulator's 6-digit region code (repeat; '*' for all)."
    ),
    subject_key: str | None = typer.Option(
        None, "--subject-key", metavar="KEY", help="A citizen's keyed pseudonym (never the ID number)."
    ),
    agency: str | None = typer.Option(None, "--agency", metavar="NAME", help="An officer's agency."),
    display_name: str | None = typer.Option(
        None, "--display-name", metavar="NAME", help="Name shown (default: USERNAME)."
    ),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        metavar="FILE",
        help="Read the password from the first line of FILE instead of a prompt.",
    ),
    sso_only: bool = typer.Option(False, "--sso-only", help="No password: the user logs in by single sign-on only."),
    oidc_subject: str | None = typer.Option(
        None, "--oidc-subject", metavar="ISS|SUB", help="Link the user to this single sign-on subject."
    ),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a user. The password is prompted for (hidden, twice) unless --password-file or --sso-only."""
    from scoring.workflows.access import add_user

    if sso_only:
        password = None
    elif password_file is not None:
        password = _read_password(password_file)
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = add_user(
        username,
        password,
        role,
        display_name=display_name,
        subject_key=subject_key,
        agency=agency,
        industries=industry,
        regions=region,
        oidc_subject=oidc_subject,
        url=serving,
    )
    info = {
        "user_id": user.user_id,
        "username": user.username,
        "role": user.role,
        "industries": list(user.industries),
        "regions": list(user.regions),
        "agency": user.agency,
        "subject_key": user.subject_key,
    }
    if as_json:
        emit_json(info)
        return
    emit_text(f"User {user.username} added: {user.role_zh} ({user.role}).")
    if user.industries or user.regions:
        emit_text(f"Scope: industries {', '.join(user.industries)} x regions {', '.join(user.regions)}.")


@users_app.command("token")
def users_token_cmd(
    username: str = typer.Argument(..., metavar="USERNAME"),
    name: str = typer.Option(..., "--name", metavar="NAME", help="What the token is for (e.g. the client system)."),
    days: int | None = typer.Option(None, "--days", metavar="N", help="Valid N days (default from configs/access)."),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Issue an API token (Authorization: Bearer ...). It is shown once: store it now."""
    from scoring.workflows.access import issue_user_token

    t = issue_user_token(username, name, days, url=serving)
    if as_json:
        emit_json({**t, "expires_at": t["expires_at"].isoformat() if t["expires_at"] else None})
        return
    typer.echo(t["token"])
    emit_text(
        f"Token {t['token_id']} for {t['username']}, valid until {t['expires_at']:%Y-%m-%d %H:%M} UTC. "
        "It is shown only now; `scoring users revoke TOKEN_ID` revokes it."
    )


@users_app.command("revoke")
def users_revoke_cmd(
    token_id: str = typer.Argument(..., metavar="TOKEN_ID", help="The token's id (the part after xy_)."),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Revoke an API token."""
    from scoring.workflows.access import revoke_user_token

    done = revoke_user_token(token_id, url=serving)
    if as_json:
        emit_json({"token_id": token_id, "revoked": done})
    else:
        emit_text(f"Token {token_id} revoked." if done else f"No active token {token_id}; nothing revoked.")
    if not done:
        raise typer.Exit(1)


@users_app.command("list")
def users_list_cmd(serving: str | None = ServingOpt, as_json: bool = JsonOpt) -> None:
    """The users, their roles and scopes."""
    from scoring.workflows.access import list_users

    frame = list_users(url=serving)
    if as_json:
        emit_json(frame.to_dict(orient="records"))
    elif frame.empty:
        emit_text("No users yet; `scoring users add USERNAME --role ROLE` adds one.")
    else:
        emit_frame(frame, title=f"{len(frame)} users")


@register_app.command("verify")
def register_verify_cmd(serving: str | None = ServingOpt, as_json: bool = JsonOpt) -> None:
    """Check the hash chain; exit 1 naming the first broken seq when a row was edited, deleted or inserted."""
    from scoring.workflows.access import verify_register

    v = verify_register(url=serving)
    if as_json:
        emit_json(
            {
                "ok": v.ok,
                "rows": v.rows,
                "first_broken": v.first_broken,
                "reason": v.reason,
                "head_seq": v.head_seq,
                "head_hash": v.head_hash,
                "anchor_seq": v.anchor_seq,
            }
        )
    elif v.ok:
        emit_text(f"Register intact: {v.rows:,} rows verified.")
        if v.head_seq:
            emit_fields({"head seq": v.head_seq, "head hash": v.head_hash, "anchored after seq": v.anchor_seq or "-"})
    else:
        emit_text(f"Register BROKEN at seq {v.first_broken}: {v.reason}.")
    if not v.ok:
        raise typer.Exit(1)


@register_app.command("export")
def register_export_cmd(
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The file to write: .xlsx or .csv."),
    user: str | None = typer.Option(None, "--user", metavar="USERNAME", help="Only this user's rows."),
    role: str | None = typer.Option(None, "--role", metavar="ROLE", help="Only this role's rows."),
    subject: str | None = typer.Option(None, "--subject", metavar="ID", help="Only rows about this subject."),
    action: str | None = typer.Option(None, "--action", metavar="ACTION", help="read, write, export, download, login."),
    since: dt.datetime | None = typer.Option(None, "--since", metavar="DATE", help="From this date (YYYY-MM-DD)."),
    until: dt.datetime | None = typer.Option(None, "--until", metavar="DATE", help="Up to this date, inclusive."),
    result: str | None = typer.Option(
        None, "--result", metavar="RESULT", help="ok, denied, not_found, invalid, error."
    ),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export the register (filtered) for review: Chinese headers, every text inert."""
    from scoring.workflows.access import export_register

    r = export_register(
        out,
        url=serving,
        user=user,
        role=role,
        subject=subject,
        action=action,
        since=since.date() if since else None,
        until=until.date() if until else None,
        result=result,
    )
    if as_json:
        emit_json(r)
    else:
        emit_text(f"{r['rows']:,} register rows written to {r['path']}.")


@register_app.command("prune")
def register_prune_cmd(
    keep_days: int | None = typer.Option(
        None, "--keep-days", metavar="N", help="Keep N days (at least 183; default from configs/access)."
    ),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Remove rows older than the retention; the chain stays verifiable (anchored)."""
    from scoring.workflows.access import prune_register

    r = prune_register(keep_days, url=serving)
    v = r["verification"]
    if as_json:
        emit_json({"pruned": r["pruned"], "keep_days": r["keep_days"], "ok": v.ok, "anchor_seq": v.anchor_seq})
    else:
        emit_text(
            f"{r['pruned']:,} rows older than {r['keep_days']} days pruned; "
            + (f"chain anchored after seq {v.anchor_seq}, " if v.anchor_seq else "")
            + ("verified intact." if v.ok else f"BROKEN at seq {v.first_broken}.")
        )
