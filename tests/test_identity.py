"""Users, argon2id passwords, login rate limits, API tokens and the OIDC mapping, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from typer.testing import CliRunner

from scoring.cli import app
from scoring.core.errors import DataError, NotFoundError, XinyiError
from scoring.serving import identity
from scoring.serving.access import access_config
from scoring.serving.database import connect
from scoring.serving.schema import api_tokens, login_attempts, users

PW = "correct horse battery"
T0 = dt.datetime(2026, 3, 1, 9, 0, 0)


@pytest.fixture
def eng(serving_url):
    e = connect(serving_url)
    yield e
    e.dispose()


def _regulator(c, name: str = "reg1", **kw):
    return identity.create_user(
        c,
        name,
        PW,
        "regulator",
        industries=kw.pop("industries", ["construction"]),
        regions=kw.pop("regions", ["330702"]),
        **kw,
    )


def test_passwords_are_argon2id_hashes_never_plaintext(eng):
    with eng.begin() as c:
        u = _regulator(c, display_name="张监管")
        row = c.execute(sa.select(users).where(users.c.user_id == u.user_id)).first()._mapping
    assert row["password_hash"].startswith("$argon2id$")
    assert PW not in repr(dict(row))
    p = access_config().passwords.argon2
    assert f"m={p.memory_cost},t={p.time_cost},p={p.parallelism}" in row["password_hash"]
    assert u.display_name == "张监管" and u.role_zh == "行业监管人员"
    with eng.begin() as c:
        again = _regulator(c, "reg2")
        other = c.execute(sa.select(users.c.password_hash).where(users.c.user_id == again.user_id)).scalar_one()
    assert other != row["password_hash"]  # salted


def test_authenticate_right_wrong_unknown_and_every_attempt_recorded(eng):
    with eng.begin() as c:
        u = _regulator(c)
    with eng.begin() as c:
        assert identity.authenticate(c, "reg1", PW, "10.0.0.1", now=T0) == u
        assert identity.authenticate(c, "reg1", PW + "x", "10.0.0.1", now=T0) is None
        assert identity.authenticate(c, "nobody", PW, "10.0.0.2", now=T0) is None
        assert identity.authenticate(c, "", "", "10.0.0.2", now=T0) is None
        attempts = [
            tuple(r)
            for r in c.execute(
                sa.select(login_attempts.c.username, login_attempts.c.client, login_attempts.c.ok).order_by(
                    login_attempts.c.attempt_id
                )
            )
        ]
    assert attempts == [
        ("reg1", "10.0.0.1", True),
        ("reg1", "10.0.0.1", False),
        ("nobody", "10.0.0.2", False),
        ("", "10.0.0.2", False),
    ]


def test_deactivated_users_cannot_log_in(eng):
    with eng.begin() as c:
        _regulator(c)
        identity.set_active(c, "reg1", False)
        assert identity.authenticate(c, "reg1", PW, "c", now=T0) is None
        assert identity.get_user_by_name(c, "reg1").active is False


def test_rate_limit_blocks_after_failures_and_unblocks_after_the_window(eng):
    limits = access_config().login
    n, window = limits.failures_per_username, dt.timedelta(minutes=limits.window_minutes)
    with eng.begin() as c:
        u = _regulator(c)
    with eng.begin() as c:
        for i in range(n - 1):
            assert (
                identity.authenticate(c, "reg1", "wrong password!", "10.0.0.9", now=T0 + dt.timedelta(seconds=i))
                is None
            )
        assert not identity.login_blocked(c, "reg1", "10.0.0.9", now=T0 + dt.timedelta(seconds=n))
        identity.authenticate(c, "reg1", "wrong password!", "10.0.0.9", now=T0 + dt.timedelta(seconds=n))
        later = T0 + dt.timedelta(seconds=n + 1)
        assert identity.login_blocked(c, "reg1", "10.0.0.9", now=later)
        assert identity.login_blocked(c, "reg1", "10.9.9.9", now=later)  # per username, from anywhere
        assert identity.authenticate(c, "reg1", PW, "10.0.0.9", now=later) is None  # even the right password
        assert not identity.login_blocked(c, "other", "10.9.9.9", now=later)
        # the window counts from the failures: the refused attempt at `later` is one of them
        free = later + window + dt.timedelta(seconds=1)
        assert not identity.login_blocked(c, "reg1", "10.0.0.9", now=free)
        assert identity.authenticate(c, "reg1", PW, "10.0.0.9", now=free) == u


def test_a_success_resets_the_username_count(eng):
    n = access_config().login.failures_per_username
    with eng.begin() as c:
        _regulator(c)
    with eng.begin() as c:
        t = T0
        for _ in range(n - 1):
            t += dt.timedelta(seconds=1)
            identity.authenticate(c, "reg1", "wrong password!", "c1", now=t)
        t += dt.timedelta(seconds=1)
        assert identity.authenticate(c, "reg1", PW, "c1", now=t) is not None
        for _ in range(n - 1):
            t += dt.timedelta(seconds=1)
            identity.authenticate(c, "reg1", "wrong password!", "c1", now=t)
        assert not identity.login_blocked(c, "reg1", "c1", now=t + dt.timedelta(seconds=1))


def test_rate_limit_per_client(eng):
    limits = access_config().login
    with eng.begin() as c:
        c.execute(
            login_attempts.insert(),
            [
                {"username": f"guess{i}", "client": "203.0.113.7", "at": T0 + dt.timedelta(seconds=i), "ok": False}
                for i in range(limits.failures_per_client)
            ],
        )
        later = T0 + dt.timedelta(minutes=1)
        assert identity.login_blocked(c, "anyone", "203.0.113.7", now=later)
        assert not identity.login_blocked(c, "anyone", "203.0.113.8", now=later)
        assert not identity.login_blocked(
            c, "anyone", "203.0.113.7", now=later + dt.timedelta(minutes=limits.window_minutes)
        )


def test_a_hash_with_other_parameters_is_rehashed_at_login(eng):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PW)
    with eng.begin() as c:
        u = _regulator(c)
        c.execute(users.update().where(users.c.user_id == u.user_id).values(password_hash=weak))
    with eng.begin() as c:
        assert identity.authenticate(c, "reg1", PW, "c", now=T0) == u
        new = c.execute(sa.select(users.c.password_hash).where(users.c.user_id == u.user_id)).scalar_one()
    assert new != weak and not identity.password_hasher().check_needs_rehash(new)
    with eng.begin() as c:
        assert identity.authenticate(c, "reg1", PW, "c", now=T0) == u


@pytest.mark.parametrize(
    ("args", "kw", "message"),
    [
        (("u1", "short", "analyst"), {}, "at least 10"),
        (("u1", "u1u1u1u1u1", "analyst"), {}, None),
        (("longusername", "LongUsername", "analyst"), {}, "not be the username"),
        (("u1", PW, "superuser"), {}, "unknown role"),
        (("u1", PW, "citizen"), {}, "subject_key"),
        (("u1", PW, "analyst"), {"subject_key": "Sabc"}, "only a citizen"),
        (("u1", PW, "officer"), {}, "agency"),
        (("u1", PW, "regulator"), {"industries": ["construction"]}, "scope"),
        (("u1", PW, "regulator"), {"industries": ["shipping"], "regions": ["330702"]}, "not a configured industry"),
        (("u1", PW, "regulator"), {"industries": ["*"], "regions": ["3307"]}, "6-digit"),
        (("a b", PW, "analyst"), {}, "username"),
        (("11010519491231002X", PW, "citizen"), {"subject_key": "Sabc"}, "ID number"),
        (("u1", PW, "citizen"), {"subject_key": "11010519491231002X"}, "ID number"),
    ],
)
def test_create_user_refuses_what_the_rules_refuse(eng, args, kw, message):
    with eng.begin() as c:
        if message is None:  # 10 characters: accepted
            assert identity.create_user(c, *args, **kw).username == args[0]
            return
        with pytest.raises(XinyiError, match=message) as e:
            identity.create_user(c, *args, **kw)
        assert "11010519491231002X" not in str(e.value)


def test_usernames_are_unique_and_sso_only_users_have_no_password(eng):
    with eng.begin() as c:
        _regulator(c)
        with pytest.raises(DataError, match="exists already"):
            _regulator(c)
        sso = identity.create_user(c, "sso1", None, "analyst", oidc_subject="https://idp.example|42")
        assert identity.authenticate(c, "sso1", "", "c", now=T0) is None
        assert identity.authenticate(c, "sso1", PW, "c", now=T0) is None
        assert identity.get_user(c, sso.user_id) == sso
        assert identity.get_user(c, 999999) is None


def test_in_scope_industries_by_regions_with_wildcards():
    u = identity.User(1, "r", "r", "regulator", industries=("construction", "food"), regions=("330702",))
    assert u.in_scope("construction", "330702") and u.in_scope("food", None) and u.in_scope(None, None)
    assert not u.in_scope("medical", "330702") and not u.in_scope("food", "330703")
    every = identity.User(2, "a", "a", "regulator", industries=("*",), regions=("*",))
    assert every.in_scope("medical", "110105") and every.all_industries and every.all_regions
    none = identity.User(3, "n", "n", "regulator")
    assert not none.in_scope(None, None) and not none.in_scope("food", "330702")


# -- tokens ---------------------------------------------------------------------------------------
def test_tokens_issue_use_revoke_expire(eng):
    with eng.begin() as c:
        u = _regulator(c)
        token = identity.issue_token(c, u, "bank system", days=30, now=T0)
        assert re.fullmatch(r"xy_[a-z2-7]{16}_[A-Za-z0-9_-]{40,}", token)
        token_id, secret = token[3:19], token[20:]
        row = c.execute(sa.select(api_tokens)).first()._mapping
        assert row["token_id"] == token_id and secret not in repr(dict(row)) and row["token_hash"] != secret
        assert identity.user_for_token(c, token, now=T0 + dt.timedelta(days=1)) == u
        assert identity.user_for_token(c, token[:-1] + ("A" if token[-1] != "A" else "B"), now=T0) is None
        assert identity.user_for_token(c, f"xy_{'a' * 16}_{secret}", now=T0) is None
        for junk in ("", "xy_", "Bearer x", "xy__", token.replace("xy_", "yx_")):
            assert identity.user_for_token(c, junk, now=T0) is None
        assert identity.user_for_token(c, token, now=T0 + dt.timedelta(days=30)) is None  # expired
        other = identity.issue_token(c, u, "second", now=T0)
        assert identity.revoke_token(c, token_id, now=T0) and not identity.revoke_token(c, token_id, now=T0)
        assert identity.user_for_token(c, token, now=T0 + dt.timedelta(days=1)) is None
        assert identity.user_for_token(c, other, now=T0 + dt.timedelta(days=1)) == u
        identity.set_active(c, "reg1", False)
        assert identity.user_for_token(c, other, now=T0 + dt.timedelta(days=1)) is None
        assert [t["name"] for t in identity.list_tokens(c, u)] == ["bank system", "second"]
        with pytest.raises(DataError, match="1 to"):
            identity.issue_token(c, u, "forever", days=10_000)
        with pytest.raises(DataError, match="name"):
            identity.issue_token(c, u, "  ")


# -- single sign-on -------------------------------------------------------------------------------
def test_oidc_maps_verified_claims_to_existing_users_only(eng):
    iss = "https://sso.example.gov.cn"
    with eng.begin() as c:
        linked = identity.create_user(c, "ana", None, "analyst", oidc_subject=f"{iss}|abc")
        plain = _regulator(c, "reg9")
        identity.create_user(c, "root", PW, "admin")
        before = c.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
        assert identity.oidc_user(c, {"iss": iss, "sub": "abc"}) == linked
        assert identity.oidc_user(c, {"iss": iss, "sub": "abc"}, {"issuer": "https://evil"}) is None
        assert identity.oidc_user(c, {"iss": iss, "sub": "zzz"}) is None
        assert identity.oidc_user(c, {"iss": iss}) is None
        # linking by a claim: only a user not linked yet, never an admin
        by = {"link_by": "preferred_username"}
        assert identity.oidc_user(c, {"iss": iss, "sub": "s9", "preferred_username": "reg9"}, by) == plain
        assert identity.oidc_user(c, {"iss": iss, "sub": "s9"}) == plain  # linked now
        assert identity.oidc_user(c, {"iss": iss, "sub": "s0", "preferred_username": "root"}, by) is None
        assert identity.oidc_user(c, {"iss": iss, "sub": "s1", "preferred_username": "newcomer"}, by) is None
        assert (
            identity.oidc_user(
                c, {"iss": iss, "sub": "s2", "email": "ana", "email_verified": False}, {"link_by": "email"}
            )
            is None
        )
        assert c.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == before  # nobody created


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_users_add_token_list(eng, serving_url, tmp_path):
    pw = tmp_path / "pw.txt"
    pw.write_text(PW + "\n", encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "users",
            "add",
            "reg1",
            "--role",
            "regulator",
            "--industry",
            "construction",
            "--region",
            "330702",
            "--password-file",
            str(pw),
            "--serving",
            serving_url,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["users", "add", "aud1", "--role", "auditor", "--serving", serving_url], input=f"{PW}\n{PW}\n"
    )
    assert r.exit_code == 0, r.output
    assert PW not in r.output  # the prompt hides it
    r = runner.invoke(
        app, ["users", "add", "bad", "--role", "regulator", "--password-file", str(pw), "--serving", serving_url]
    )
    assert r.exit_code == 2 and "scope" in r.output
    r = runner.invoke(app, ["users", "token", "reg1", "--name", "bank", "--serving", serving_url])
    assert r.exit_code == 0, r.output
    token = r.output.splitlines()[0]
    r = runner.invoke(app, ["users", "list", "--serving", serving_url, "--json"])
    assert r.exit_code == 0 and '"username": "aud1"' in r.output and '"tokens": 1' in r.output
    with eng.begin() as c:
        u = identity.user_for_token(c, token)
        assert u is not None and u.username == "reg1"
        assert identity.authenticate(c, "aud1", PW, "cli") is not None
    r = runner.invoke(app, ["users", "revoke", identity.token_id_of(token), "--serving", serving_url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "token", "ghost", "--name", "x", "--serving", serving_url])
    assert r.exit_code == 2 and "no such user" in r.output
    with eng.begin() as c:
        assert identity.user_for_token(c, token) is None
    with pytest.raises(NotFoundError):
        with eng.begin() as c:
            identity.set_password(c, "ghost", PW)
