"""A small but real OpenID Connect provider for the tests (统一身份认证的测试替身), on authlib's server side.

:class:`Provider` serves, on uvicorn at ``127.0.0.1:<free port>`` in a thread:

* ``/.well-known/openid-configuration`` (discovery) and ``/jwks`` (the public RS256 key);
* ``/authorize``: authlib's ``AuthorizationCodeGrant`` with the ``OpenIDCode`` extension, approving
  the end user named by :attr:`Provider.user` (the test chooses who "logs in") at once or, with
  :attr:`Provider.login_page`, when the button of its page is pressed;
* ``/token``: the code exchanged for an access token and an ID token signed by authlib (joserfc key).

Only the ``client_secret_basic`` and ``client_secret_post`` client authentications, one registered
client, codes and tokens in memory. :attr:`Provider.claims_override` (another ``iss``, ``aud`` or
``exp``) and :attr:`Provider.nonce_override` let a test make the provider lie, to check that the
relying party refuses it.
"""

from __future__ import annotations

import html
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


@dataclass
class EndUser:
    """The person the provider authenticates: ``sub`` and the claims of the profile/email scopes."""

    sub: str
    name: str = "测试用户"
    preferred_username: str | None = None
    email: str | None = None
    email_verified: bool = False


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str = "openid profile email"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: EndUser
    nonce: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class _Request(OAuth2Request):
    """An OAuth2Request of a Starlette request whose query and (form) body were already read."""

    def __init__(self, request: Request, args: Mapping[str, str], form: Mapping[str, str]):
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = dict(args)
        self._form = dict(form)
        self.payload = BasicOAuth2Payload({**self._args, **self._form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Server(AuthorizationServer):
    def __init__(self, provider: Provider):
        super().__init__(scopes_supported=["openid", "profile", "email"])
        self.provider = provider

    def query_client(self, client_id: str) -> Client | None:
        c = self.provider.client
        return c if client_id == c.client_id else None

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        self.provider.tokens.append(token)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, OAuth2Request)
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        h = dict(headers)
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=h)
        return Response(body or "", status_code=status, headers=h)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        provider: Provider = self.server.provider  # our _Server
        provider.codes[code] = Code(
            code=code,
            client_id=request.payload.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope,
            user=request.user,
            nonce=provider.nonce_override or request.payload.data.get("nonce"),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        provider: Provider = self.server.provider  # our _Server
        found = provider.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        provider: Provider = self.server.provider  # our _Server
        provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> EndUser:
        return authorization_code.user


class _OpenIDCode(OpenIDCode):
    def __init__(self, provider: Provider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in self.provider.codes.values())

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.provider.kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        claims: dict[str, Any] = {"iss": self.provider.issuer, "aud": [client.get_client_id()]}
        claims.update(self.provider.claims_override)
        return claims

    def generate_user_info(self, user: EndUser, scope: str) -> UserInfo:
        info = UserInfo(sub=user.sub)
        scopes = scope.split()
        if "profile" in scopes:
            info["name"] = user.name
            if user.preferred_username:
                info["preferred_username"] = user.preferred_username
        if "email" in scopes and user.email:
            info["email"] = user.email
            info["email_verified"] = user.email_verified
        return info


class Provider:
    """The provider: ``with Provider.running(...) as p:`` gives its :attr:`issuer` URL while it serves.

    ``redirect_uris``: the registered callback URLs of the one client (may be set after start, as the
    relying party's port is known only then); :attr:`user`: who is logged in at the provider."""

    def __init__(self, client_id: str = "xinyi", client_secret: str | None = None, user: EndUser | None = None):
        self.client = Client(client_id, client_secret or secrets.token_urlsafe(24), [])
        self.user = user or EndUser(sub="u-1001")
        self.key = RSAKey.generate_key(2048)
        self.kid = "test-" + secrets.token_hex(4)
        self.codes: dict[str, Code] = {}
        self.tokens: list[dict] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.claims_override: dict[str, Any] = {}
        self.nonce_override: str | None = None
        #: True: /authorize shows a page whose button approves (the browser leaves from the provider's
        #: own page, as after a real login form); False: approved at once by a redirect
        self.login_page = False
        self.issuer = ""
        self.server = _Server(self)
        self.server.register_token_generator(
            "default", BearerTokenGenerator(lambda *_args, **_kwargs: secrets.token_urlsafe(32))
        )
        self.server.register_grant(_CodeGrant, [_OpenIDCode(self)])
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
            ]
        )

    # -- endpoints ---------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> JSONResponse:
        i = self.issuer
        return JSONResponse(
            {
                "issuer": i,
                "authorization_endpoint": f"{i}/authorize",
                "token_endpoint": f"{i}/token",
                "jwks_uri": f"{i}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "claims_supported": ["sub", "iss", "aud", "name", "preferred_username", "email", "email_verified"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        public = self.key.as_dict(private=False)
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": [public]})

    async def authorize(self, request: Request) -> Response:
        args = dict(request.query_params)
        if request.method == "POST":  # the end user approved on the login page
            args = {k: str(v) for k, v in (await request.form()).items()}
        elif self.login_page:
            self.server.get_consent_grant(_Request(request, args, {}), end_user=self.user)  # a bad request fails here
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in args.items()
            )
            return HTMLResponse(
                f'<!doctype html><title>统一身份认证</title><form method="post" action="/authorize">{fields}'
                f"<button>同意并登录 {html.escape(self.user.name)}</button></form>"
            )
        self.authorize_requests.append(args)
        return self.server.create_authorization_response(_Request(request, {}, args), grant_user=self.user)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        return self.server.create_token_response(_Request(request, dict(request.query_params), form))

    # -- running ---------------------------------------------------------------------------------------
    @classmethod
    @contextmanager
    def running(cls, **kwargs: Any) -> Iterator[Provider]:
        provider = cls(**kwargs)
        with serve(provider.app) as base:
            provider.issuer = base
            yield provider


def bound_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free port of 127.0.0.1 and its base URL (``http://127.0.0.1:<port>``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serve(app: Any, bound: tuple[socket.socket, str] | None = None) -> Iterator[str]:
    """``app`` on uvicorn in a thread while the block runs, on ``bound`` (default: a free port of
    127.0.0.1); yields its base URL."""
    sock, base = bound or bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
