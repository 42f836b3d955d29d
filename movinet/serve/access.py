"""Who may use a server: the Host header, the WebSocket Origin, and the access token.

    policy = access_policy("0.0.0.0", token=None)          # not loopback: a token is generated
    app = AccessGuard(app, policy)                          # an ASGI middleware

* **Host**: a request whose `Host` names none of the server's names is refused (400), so a page on
  another site cannot reach the server through a DNS name rebound to this machine. The names are
  the loopback names for a loopback server, the `--host` given, the machine's own names for a
  wildcard bind, the address the connection arrived at, and every `--allow_host`.
* **Origin**: a browser says which page opened a WebSocket or sent a POST. `/ws` and `POST` routes
  refuse (403) an Origin other than the server's own (scheme-less: the `Host` it was reached by)
  and the `--allow_origin` ones. Clients that are not browsers send no Origin and are not affected.
* **Token**: a server bound to anything but loopback needs a token on every route except `/health`
  (generated and printed in the URL, like Jupyter, or given by `--token` / $MOVINET_SERVE_TOKEN;
  `--no_token` turns it off). It is accepted as `?token=`, `Authorization: Bearer TOKEN`, or the
  cookie the page gets when it is opened with `?token=`.
"""

from __future__ import annotations

import hmac
import json
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
TOKEN_ENV = "MOVINET_SERVE_TOKEN"
OPEN_PATHS = ("/health",)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class AccessError(ValueError):
    """Contradictory access options (`--token` with `--no_token`, an empty token)."""


@dataclass(frozen=True)
class AccessPolicy:
    """What the guard lets in.

    Attributes:
        token: the access token; None: no token needed.
        allowed_hosts: host names (no port) a request may name in `Host`; "*" allows any.
        allowed_origins: origins (`https://app.example.com`) besides the server's own that may open
            `/ws` or POST; "*" allows any.
    """

    token: str | None = None
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    allowed_origins: tuple[str, ...] = ()
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token is not None and not self.token:
            raise AccessError("the access token is empty; give a token, or --no_token to serve without one")
        object.__setattr__(self, "_hosts", frozenset(_normal_host(host) for host in self.allowed_hosts))

    def host_allowed(self, host_header: str | None, local_address: str | None = None) -> bool:
        """Whether a request's `Host` names this server (its names, or the address it arrived at)."""
        if "*" in self._hosts:
            return True
        if not host_header:
            return False
        name = _normal_host(_strip_port(host_header))
        return name in self._hosts or (local_address is not None and name == _normal_host(local_address))

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """Whether a browser page from `origin` may use the server (no Origin: not a browser, allowed)."""
        if origin is None:
            return True
        if "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        return bool(host_header) and parts.scheme in ("http", "https") and _same_authority(
            parts.netloc, parts.scheme, host_header)

    def token_matches(self, given: str | None) -> bool:
        return self.token is None or (given is not None and hmac.compare_digest(given.encode(), self.token.encode()))


def access_policy(host: str, *, bound_address: str | None = None, token: str | None = None, no_token: bool = False,
                  allow_hosts: Iterable[str] = (), allow_origins: Iterable[str] = ()) -> AccessPolicy:
    """The policy of a server listening on `host` (`movinet serve --host`).

    Args:
        host: the `--host` given.
        bound_address: the address the socket is bound to (default: `host` resolved).
        token: `--token` or $MOVINET_SERVE_TOKEN; None generates one where a token is needed.
        no_token: serve without a token even when not on loopback (explicit opt-out).
        allow_hosts / allow_origins: `--allow_host` / `--allow_origin`.

    Raises:
        AccessError: `token` with `no_token`, or an empty token.
    """
    if no_token and token is not None:
        raise AccessError("--token and --no_token contradict each other; give one of them")
    address = bound_address if bound_address is not None else _resolve(host)
    if token is None and not no_token and not is_loopback(address):
        token = secrets.token_hex(24)
    names = set(allow_hosts) | {host}
    if is_loopback(address) or is_wildcard(address):
        names |= set(LOOPBACK_NAMES)
    if is_wildcard(address):
        names |= _machine_names()
    else:
        names.add(address)
    origins = tuple(origin.rstrip("/") for origin in allow_origins)
    return AccessPolicy(token=None if no_token else token, allowed_hosts=tuple(sorted(names)), allowed_origins=origins)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address.lower() == "localhost"


def is_wildcard(address: str) -> bool:
    return address in ("", "0.0.0.0", "::")


def _resolve(host: str) -> str:
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except (socket.gaierror, IndexError):
        return host


def _machine_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except socket.gaierror:
        pass
    return {name for name in names if name}


def _split_authority(netloc: str, default_port: str = "") -> tuple[str, str]:
    """"Host:port" (or "[v6]:port", or a bare host) -> (normalised host, port or `default_port`)."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, port = netloc.split(":")
    else:
        host, port = netloc, ""
    return host.rstrip("."), port or default_port


def _strip_port(host_header: str) -> str:
    return _split_authority(host_header)[0]


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _same_authority(origin_netloc: str, scheme: str, host_header: str) -> bool:
    default = {"http": "80", "https": "443"}[scheme]
    return _split_authority(origin_netloc, default) == _split_authority(host_header, default)


class AccessGuard:
    """ASGI middleware enforcing an `AccessPolicy` on HTTP and WebSocket requests.

    Args:
        app: the app behind the guard.
        policy: what to let in.
    """

    def __init__(self, app: Any, policy: AccessPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, message = refusal
            await _refuse(scope, receive, send, status, message)
            return
        query_token = _query_token(scope)
        if scope["type"] == "http" and query_token is not None and self.policy.token is not None:
            send = _with_cookie(send, _cookie_name(scope), query_token)
        await self.app(scope, receive, send)

    def _refusal(self, scope: dict[str, Any], headers: dict[str, str]) -> tuple[int, str] | None:
        policy = self.policy
        host = headers.get("host")
        local = scope.get("server")[0] if scope.get("server") else None
        if not policy.host_allowed(host, local):
            return 400, (f"Host {host!r} is not a name of this server; reach it by the address it printed, or "
                         "restart it with --allow_host NAME")
        needs_origin = scope["type"] == "websocket" or scope.get("method", "GET") not in _SAFE_METHODS
        if needs_origin and not policy.origin_allowed(headers.get("origin"), host):
            return 403, (f"pages from {headers.get('origin')} may not use this server; restart it with "
                         "--allow_origin ORIGIN to let them")
        if scope["path"] not in OPEN_PATHS and not policy.token_matches(_given_token(scope, headers)):
            return 401, ("this server needs its access token: open the URL it printed (.../?token=...), or send "
                         "'Authorization: Bearer TOKEN'")
        return None


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = headers[name] + "; " + text if name == "cookie" and name in headers else text
    return headers


def _query_token(scope: dict[str, Any]) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[-1] if values else None


def _cookie_name(scope: dict[str, Any]) -> str:
    port = scope["server"][1] if scope.get("server") else 0
    return f"movinet_token_{port}"  # cookies ignore ports: one name per server on a machine


def _given_token(scope: dict[str, Any], headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    kind, _, value = authorization.partition(" ")
    if kind.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    query = _query_token(scope)
    if query is not None:
        return query
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header is no token
        return None
    morsel = cookies.get(_cookie_name(scope))
    return morsel.value if morsel is not None else None


def _with_cookie(send: Any, name: str, token: str) -> Any:
    """`send` that sets the token cookie on the response (the page's later requests carry it)."""
    cookie = f"{name}={token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")

    async def send_with_cookie(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return send_with_cookie


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        # Before the handshake: an HTTP error response (403 from uvicorn for a plain close).
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "websocket.http.response.body", "body": json.dumps({"error": message}).encode()})
        return
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
