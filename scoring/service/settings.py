"""The service's settings (服务配置): the serving database, the session secret, cookies, single sign-on.

The secret that signs session cookies is ``$XINYI_SECRET_KEY``, else (SQLite only) the file
``serving.secret`` beside the database file, created on first start with mode 0600 and refused when
others may read it. A PostgreSQL deployment has no such file: it needs ``XINYI_SECRET_KEY`` (the same
value for every worker and every host behind the same address).

Single sign-on (OIDC) is configured by ``XINYI_OIDC_ISSUER``, ``XINYI_OIDC_CLIENT_ID`` and
``XINYI_OIDC_CLIENT_SECRET`` (:meth:`Settings.from_env`); without them ``/login/oidc`` does not exist.
Optional: ``XINYI_OIDC_REDIRECT_URI`` (the callback URL as registered at the provider) and
``XINYI_OIDC_LINK_BY`` (a claim linking a not yet linked user by username on first login).
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from scoring.core.errors import ConfigError

SECRET_ENV = "XINYI_SECRET_KEY"
SECRET_FILE = "serving.secret"
OIDC_ENV = ("XINYI_OIDC_ISSUER", "XINYI_OIDC_CLIENT_ID", "XINYI_OIDC_CLIENT_SECRET")
#: a signed session cookie is accepted for at most this long (8 hours: one working day)
SESSION_SECONDS = 8 * 3600
MIN_SECRET = 32
#: set by ``scoring serve`` to the URL it migrated before starting the workers
MIGRATED_ENV = "XINYI_SERVING_MIGRATED"


@dataclass(frozen=True)
class OIDCSettings:
    """An OpenID Connect provider (the platform's 统一身份认证): its issuer URL (the discovery document
    is ``<issuer>/.well-known/openid-configuration``), this service's client id and secret."""

    issuer: str
    client_id: str
    client_secret: str
    scope: str = "openid profile email"
    #: the callback URL registered at the provider (``XINYI_OIDC_REDIRECT_URI``), needed behind a
    #: reverse proxy; None: ``/login/oidc/callback`` on the host and scheme the request came to
    redirect_uri: str | None = None
    #: a claim (``XINYI_OIDC_LINK_BY``, e.g. ``preferred_username`` or ``email``) that links a user not
    #: linked yet, by username, on first login (never an admin); None: only users linked by hand
    link_by: str | None = None

    @property
    def mapping(self) -> dict[str, str]:
        """The claims mapping of :func:`scoring.serving.identity.oidc_user` (the ``iss`` claim is
        checked by authlib against the provider's discovery document)."""
        return {"link_by": self.link_by} if self.link_by else {}

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def _sqlite_file(url: str) -> Path | None:
    try:
        u = sa.engine.make_url(url)
    except sa.exc.ArgumentError as e:
        raise ConfigError(f"serving database URL {url!r} is not a database URL: {e}") from e
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def secret_file_key(path: Path) -> str:
    """The secret in ``path`` (created with mode 0600 when missing); refused when group or others
    may read it, or when it is too short."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the session secret may be read by others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}` or set {SECRET_ENV}"
        )
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_SECRET:
        raise ConfigError(
            f"{path}: the session secret is shorter than {MIN_SECRET} characters; delete the file to renew it"
        )
    return key


def resolve_secret(serving_url: str, secret_key: str | None = None) -> str:
    """The session secret: ``secret_key``, else ``$XINYI_SECRET_KEY``, else the 0600 file beside a
    SQLite database; a PostgreSQL database needs the environment variable."""
    key = secret_key or os.environ.get(SECRET_ENV, "")
    if key:
        if len(key) < MIN_SECRET:
            raise ConfigError(f"{SECRET_ENV}: the session secret must have at least {MIN_SECRET} characters")
        return key
    file = _sqlite_file(serving_url)
    if file is None:
        raise ConfigError(
            f"the serving database is not a SQLite file: set {SECRET_ENV} to a random secret of at least "
            f"{MIN_SECRET} characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
            "the same for every worker"
        )
    return secret_file_key(file.resolve().parent / SECRET_FILE)


@dataclass
class Settings:
    """What :func:`scoring.service.app.create_app` needs.

    ``serving_url``: the serving database; ``secret_key``: signs the session cookies (default:
    :func:`resolve_secret`); ``https_only``: cookies marked Secure (behind TLS); ``oidc``: single
    sign-on, None = password login only; ``access_config``: the authorisation rules' folder
    (default configs/access).
    """

    serving_url: str
    secret_key: str | None = None
    https_only: bool = False
    oidc: OIDCSettings | None = None
    access_config: str | Path | None = None
    session_seconds: int = SESSION_SECONDS
    page_size: int = 50
    upgrade: bool = True  # bring the schema up to date at start (``scoring serve`` does it once for all workers)

    def __post_init__(self) -> None:
        self.secret_key = resolve_secret(self.serving_url, self.secret_key)

    @property
    def secret(self) -> str:
        assert self.secret_key is not None  # resolved in __post_init__
        return self.secret_key

    @classmethod
    def from_env(
        cls, serving_url: str | None = None, *, secret_key: str | None = None, access_config: str | Path | None = None
    ) -> Settings:
        """Settings from the environment: ``$XINYI_SERVING_URL`` (else ``serving_url``, else
        ``work/serving.sqlite``), ``$XINYI_SECRET_KEY``, ``$XINYI_HTTPS_ONLY=1``, the OIDC variables."""
        from scoring.serving.database import serving_url as resolve_url

        url = resolve_url(serving_url)
        values = [os.environ.get(k, "").strip() for k in OIDC_ENV]
        oidc = None
        if any(values):
            if not all(values):
                missing = ", ".join(k for k, v in zip(OIDC_ENV, values) if not v)
                raise ConfigError(
                    f"single sign-on is half configured: set {missing} too (or none of {', '.join(OIDC_ENV)})"
                )
            issuer, client_id, client_secret = values
            oidc = OIDCSettings(
                issuer,
                client_id,
                client_secret,
                redirect_uri=os.environ.get("XINYI_OIDC_REDIRECT_URI", "").strip() or None,
                link_by=os.environ.get("XINYI_OIDC_LINK_BY", "").strip() or None,
            )
        https = os.environ.get("XINYI_HTTPS_ONLY", "").strip().lower() in ("1", "true", "yes")
        upgrade = os.environ.get(MIGRATED_ENV, "") != url  # the parent of the workers migrated this URL already
        return cls(
            serving_url=url,
            secret_key=secret_key,
            https_only=https,
            oidc=oidc,
            access_config=access_config,
            upgrade=upgrade,
        )
