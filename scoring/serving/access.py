"""Who may do what on the platform service (访问控制): roles, scopes and the purposes of a query.

The rules are data in ``configs/access/``:

* ``model.conf`` — the pycasbin model: a request (user, resource, action, context) is allowed when a
  policy row grants the user's role the action on the resource *within a domain*, the kind of scope
  the row applies in: ``any`` (everywhere), ``scope`` (the user's industries x regions, ``"*"`` a
  wildcard), ``own`` (a citizen's own ``subject_key``), ``agency`` (an officer's own agency);
* ``policy.csv`` — the rows ``p, role, resource, action, domain``;
* ``access.yaml`` — the purposes (查询目的: code -> 名称 and 法律依据), which roles must give one, the
  login limits, password hashing parameters, token lifetimes and the register's retention (保存期限,
  at least 183 days).

:meth:`Access.allowed` is the one decision the service asks for; :func:`needs_purpose` and
:data:`PURPOSES` tell it when a purpose is required and which ones exist. Every file is validated
when loaded; an error names the file and the key (or line) and says what to do.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.core.config import config_dir, files_signature, load_model
from scoring.core.errors import ConfigError, XinyiError

if TYPE_CHECKING:
    from scoring.serving.identity import User

#: The roles of the platform (fixed names; labels in :data:`ROLES_ZH`).
ROLES = ("citizen", "regulator", "officer", "analyst", "auditor", "admin")
ROLES_ZH = {
    "citizen": "公众（本人）",
    "regulator": "行业监管人员",
    "officer": "部门经办人员",
    "analyst": "模型分析人员",
    "auditor": "审计人员",
    "admin": "系统管理员",
}
#: Resources an access rule can name (fixed names, see the contract of issue 15).
RESOURCES = (
    "grade_list",
    "organisation",
    "download",
    "inspection_plan",
    "whitelist",
    "register",
    "users",
    "score",
    "case",
    "justification",
)
ACTIONS = ("read", "write", "export")
#: Domains of a policy row: the kind of scope it applies in.
DOMAINS = ("any", "scope", "own", "agency")
#: The least retention of the query register: 6 months (183 days).
MIN_RETENTION_DAYS = 183


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Purpose(_Strict):
    """A purpose of a query (查询目的) with the legal basis (法律依据) it rests on."""

    label_zh: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    roles: tuple[str, ...] = Field(min_length=1)

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in ROLES]
        if bad:
            raise ValueError(f"unknown role(s) {bad}; roles are {', '.join(ROLES)}")
        return v

    def __getitem__(self, key: str) -> Any:  # PURPOSES[code]["label_zh"] reads as in the contract
        return getattr(self, key)


class LoginLimits(_Strict):
    """Failed logins within ``window_minutes`` that block further attempts (per username, per client)."""

    failures_per_username: int = Field(ge=1)
    failures_per_client: int = Field(ge=1)
    window_minutes: int = Field(ge=1)


class Argon2Params(_Strict):
    """argon2id parameters (argon2-cffi PasswordHasher)."""

    time_cost: int = Field(ge=1)
    memory_cost: int = Field(ge=8192, description="KiB")
    parallelism: int = Field(ge=1)


class Passwords(_Strict):
    min_length: int = Field(ge=10)
    argon2: Argon2Params


class Tokens(_Strict):
    default_days: int = Field(ge=1)
    max_days: int = Field(ge=1)

    @model_validator(mode="after")
    def _order(self) -> Tokens:
        if self.default_days > self.max_days:
            raise ValueError(f"default_days ({self.default_days}) exceeds max_days ({self.max_days})")
        return self


class Retention(_Strict):
    register_days: int

    @field_validator("register_days")
    @classmethod
    def _at_least(cls, v: int) -> int:
        if v < MIN_RETENTION_DAYS:
            raise ValueError(
                f"{v} days is too short: the query register is kept at least {MIN_RETENTION_DAYS} days "
                "(6 months); set 183 or more"
            )
        return v


class AccessConfig(_Strict):
    """``configs/access/access.yaml``."""

    purposes: dict[str, Purpose] = Field(min_length=1)
    purpose_required: tuple[str, ...]
    login: LoginLimits
    passwords: Passwords
    tokens: Tokens
    retention: Retention

    @field_validator("purpose_required")
    @classmethod
    def _required_roles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in ROLES]
        if bad:
            raise ValueError(f"unknown role(s) {bad}; roles are {', '.join(ROLES)}")
        return v

    @field_validator("purposes")
    @classmethod
    def _codes(cls, v: dict[str, Purpose]) -> dict[str, Purpose]:
        for code in v:
            if not code.isascii() or not code.replace("_", "").isalnum() or len(code) > 40:
                raise ValueError(f"purpose code {code!r}: use up to 40 ASCII letters, digits and underscores")
        return v

    @model_validator(mode="after")
    def _every_required_role_has_a_purpose(self) -> AccessConfig:
        for role in self.purpose_required:
            if not any(role in p.roles for p in self.purposes.values()):
                raise ValueError(f"purpose_required names {role!r} but no purpose lists it in its roles")
        return self


def access_dir(path: str | Path | None = None) -> Path:
    """The access configuration folder: ``path``, else ``configs/access`` of the configs in force."""
    return Path(path) if path is not None else config_dir() / "access"


_CONFIGS: dict[tuple, AccessConfig] = {}


def access_config(path: str | Path | None = None) -> AccessConfig:
    """``access.yaml`` of :func:`access_dir` validated (cached until the file changes)."""
    f = access_dir(path) / "access.yaml"
    key = files_signature(f)
    if not key:
        raise ConfigError(f"{f}: file not found; the access configuration (configs/access/access.yaml) is required")
    if key not in _CONFIGS:
        _CONFIGS[key] = load_model(AccessConfig, f)
    return _CONFIGS[key]


class _Purposes(Mapping[str, Purpose]):
    """The purposes of the configs in force, read when used (``PURPOSES[code].label_zh``)."""

    def __getitem__(self, code: str) -> Purpose:
        return access_config().purposes[code]

    def __iter__(self) -> Iterator[str]:
        return iter(access_config().purposes)

    def __len__(self) -> int:
        return len(access_config().purposes)

    def __repr__(self) -> str:
        return f"PURPOSES({dict(access_config().purposes)!r})"


#: 查询目的: code -> :class:`Purpose` (label_zh, legal_basis, roles), from ``configs/access/access.yaml``.
PURPOSES: Mapping[str, Purpose] = _Purposes()


def needs_purpose(role: str) -> bool:
    """Must this role give a purpose before seeing a subject's data (regulators, analysts)?"""
    return role in access_config().purpose_required


def purposes_for(role: str) -> dict[str, Purpose]:
    """The purposes a role may give (for the console's select)."""
    return {c: p for c, p in access_config().purposes.items() if role in p.roles}


def check_purpose(role: str, code: str | None) -> Purpose | None:
    """The purpose ``code`` given by a user of ``role``: None when the role needs none and gave none;
    an error naming the valid codes when it is missing, unknown or not one of the role's."""
    if not code:
        if needs_purpose(role):
            valid = ", ".join(f"{c} ({p.label_zh})" for c, p in purposes_for(role).items())
            raise XinyiError(f"a {role} must give the purpose of the query (查询目的); one of: {valid}")
        return None
    mine = purposes_for(role)
    if code not in mine:
        valid = ", ".join(f"{c} ({p.label_zh})" for c, p in mine.items()) or "none"
        raise XinyiError(f"purpose {code!r} is not a purpose a {role} may give; one of: {valid}")
    return mine[code]


# -- the enforcer --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """What a request is about (the context of a decision)."""

    industry: str | None = None
    region: str | None = None
    subject_key: str | None = None
    agency: str | None = None


#: decisions an :class:`Access` keeps before it starts afresh
DECISIONS_KEPT = 100_000


def _within(domain: str, user: User, ctx: Request) -> bool:
    """The scope check of a policy row's domain (a matcher function of model.conf)."""
    if domain == "any":
        return True
    if domain == "scope":
        return user.in_scope(ctx.industry, ctx.region)
    if domain == "own":
        return bool(user.subject_key) and ctx.subject_key == user.subject_key
    if domain == "agency":
        return bool(user.agency) and ctx.agency == user.agency
    return False


def _read_policy(path: Path) -> list[tuple[str, str, str, str]]:
    """policy.csv validated: every row ``p, role, resource, action, domain`` with known names."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; the access policy (configs/access/policy.csv) is required"
        ) from None
    rows: list[tuple[str, str, str, str]] = []
    for n, raw in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1):
        cells = [c.strip() for c in raw]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if cells[0] != "p" or len(cells) != 5:
            raise ConfigError(f"{path}: line {n}: write 'p, role, resource, action, domain' (got {', '.join(cells)})")
        _, role, resource, action, domain = cells
        for what, value, valid in (
            ("role", role, ROLES),
            ("resource", resource, RESOURCES),
            ("action", action, ACTIONS),
            ("domain", domain, DOMAINS),
        ):
            if value not in valid:
                raise ConfigError(f"{path}: line {n}: unknown {what} {value!r}; use one of {', '.join(valid)}")
        rows.append((role, resource, action, domain))
    if not rows:
        raise ConfigError(f"{path}: no policy rows; every role would be denied everything")
    return rows


class Access:
    """The access decisions of the service: a pycasbin enforcer over ``configs/access``.

    ``Access.load()`` reads the configs in force (or ``path``, a folder with model.conf, policy.csv and
    access.yaml); :meth:`allowed` answers one request.
    """

    def __init__(self, folder: Path, enforcer: Any, config: AccessConfig, policy: list[tuple[str, str, str, str]]):
        self.folder = folder
        self.enforcer = enforcer
        self.config = config
        self.policy = tuple(policy)
        # casbin's enforce parses its matcher on every call and is not safe from several threads at
        # once (the service answers from a thread pool): decisions are made under a lock and kept,
        # since the policy of a loaded Access never changes
        self._lock = threading.Lock()
        self._decisions: dict[tuple, bool] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Access:
        import casbin

        folder = access_dir(path)
        config = access_config(folder)
        model_file, policy_file = folder / "model.conf", folder / "policy.csv"
        if not model_file.is_file():
            raise ConfigError(f"{model_file}: file not found; the access model (configs/access/model.conf) is required")
        policy = _read_policy(policy_file)
        try:
            model = casbin.Enforcer.new_model(str(model_file))
            enforcer = casbin.Enforcer(model)
        except Exception as exc:  # casbin raises plain exceptions for a malformed model
            raise ConfigError(f"{model_file}: not a valid casbin model: {exc}") from None
        for section, key in (("r", "r"), ("p", "p"), ("m", "m")):
            if key not in enforcer.get_model().model.get(section, {}):
                raise ConfigError(f"{model_file}: section [{section}] ({key} = ...) is missing")
        for role, resource, action, domain in policy:
            enforcer.add_policy(role, resource, action, domain)
        enforcer.add_function("within", _within)
        # a user-like probe (the matcher reads role, scope, subject_key, agency); not identity.User,
        # which imports this module
        probe = SimpleNamespace(role="admin", industries=("*",), regions=("*",), subject_key=None, agency=None)
        try:  # a matcher is evaluated only when asked: ask once now, so a broken one fails at load
            enforcer.enforce(probe, "users", "read", Request())
        except Exception as exc:  # simpleeval's errors for an unknown function or name
            raise ConfigError(f"{model_file}: [matchers]: cannot be evaluated: {exc}") from None
        return cls(folder, enforcer, config, policy)

    def allowed(
        self,
        user: User | None,
        resource: str,
        action: str,
        *,
        industry: str | None = None,
        region: str | None = None,
        subject_key: str | None = None,
        agency: str | None = None,
    ) -> bool:
        """May ``user`` do ``action`` on ``resource`` (of this industry/region, subject, agency)?
        No user (not logged in) and inactive users: never. Unknown resource or action names are a
        programming error (ValueError)."""
        if resource not in RESOURCES:
            raise ValueError(f"unknown resource {resource!r}; resources are {', '.join(RESOURCES)}")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
        if user is None or not getattr(user, "active", True) or user.role not in ROLES:
            return False
        key = (user, resource, action, industry, region, subject_key, agency)
        hit = self._decisions.get(key)
        if hit is not None:
            return hit
        ctx = Request(industry=industry, region=region, subject_key=subject_key, agency=agency)
        with self._lock:
            decision = bool(self.enforcer.enforce(user, resource, action, ctx))
            if len(self._decisions) >= DECISIONS_KEPT:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def scope(
        self, user: User | None, resource: str, action: str = "read"
    ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """(industries, regions) the user may ``action`` the ``resource`` in, for filtering lists:
        None means all (a rule of domain ``any``, or ``"*"`` in the user's scope), ``()`` none."""
        if user is None or not getattr(user, "active", True):
            return (), ()
        domains = {dom for res, act, dom in self.grants(user.role) if res == resource and act == action}
        if "any" in domains:
            return None, None
        if "scope" in domains:
            inds = None if "*" in user.industries else tuple(user.industries)
            regs = None if "*" in user.regions else tuple(user.regions)
            return inds, regs
        return (), ()

    def grants(self, role: str) -> list[tuple[str, str, str]]:
        """The (resource, action, domain) rows of a role (for the admin page and the docs)."""
        return [(res, act, dom) for r, res, act, dom in self.policy if r == role]

    def needs_purpose(self, role: str) -> bool:
        return role in self.config.purpose_required
