"""Run settings: one frozen object built once (from CLI options) and passed down."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from .endpoints import registry as protocols
from .errors import ConfigError


@dataclass(frozen=True)
class RunSettings:
    connect_timeout: float = 10.0        # seconds to open a connection
    read_timeout: float = 60.0           # seconds between bytes of a reply (and before the first)
    request_timeout: float = 120.0       # TOTAL time of one request: every attempt and backoff included
    deadline: float = 600.0              # whole-target deadline, all probes and retries
    retries: int = 3                     # extra attempts on 408/429/5xx/transport errors
    backoff_base: float = 0.5            # first backoff, doubled each attempt, jittered
    backoff_max: float = 20.0            # cap on one backoff (and on a Retry-After we honour)
    concurrency: int = 8                 # cap on probes in flight per target (never exceeded)
    start_concurrency: int | None = None  # probes in flight at first; None: what the server says (llama.cpp's slots), else the cap
    ask_server: bool = True              # before the first probe, read what the server says it can take (endpoints/capacity.py)
    timeout_streak: int = 4              # after this many probes in a row time out, stop retrying timeouts
    resend_max: int = 2                  # times a probe lost to overload may be sent again
    liveness_after: float = 15.0         # silent that long: check the endpoint answers at all (GET /models)
    max_body_bytes: int = 4_000_000      # read at most this much of any reply
    user_agent: str = "provenance/0.1 (+https://github.com/provenance-llm)"

    def with_(self, **kw) -> "RunSettings":
        return replace(self, **kw)


@dataclass(frozen=True)
class Target:
    """What to probe. The key itself is never stored here: only the variable's name."""

    base_url: str
    model: str
    protocol: str = "openai"
    api_key_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None

    def public(self) -> dict[str, str | None]:
        """What a report may show about the target."""
        return {"base_url": redact_url(self.base_url), "protocol": self.protocol,
                "model": self.model, "name": self.name, "api_key_env": self.api_key_env}

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None


def redact_url(url: str) -> str:
    """Drop userinfo and query strings (which may carry keys) from a URL."""
    try:
        p = urlsplit(url)
        port = p.port
    except ValueError:
        return "<malformed url>"
    host = p.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    return f"{p.scheme}://{host}{p.path}"


def _as_typed(url: str) -> str:
    """A URL as the user typed it, for an error message: without a query string or any
    ``user:secret@`` part (either may carry a key), capped."""
    u = url.split("?", 1)[0].split("#", 1)[0]
    if "@" in u:
        u = u.rsplit("@", 1)[1]
    return u[:200]


def validate_base_url(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("the endpoint URL is empty")
    url = url.strip()
    try:
        p = urlsplit(url)
        p.hostname  # noqa: B018 - may raise for malformed IPv6 brackets
    except ValueError:
        raise ConfigError(f"URL {url.split('?')[0][:200]!r} is malformed") from None
    if not p.scheme or "://" not in url:
        raise ConfigError(f"URL {_as_typed(url)!r} has no scheme: write http://{_as_typed(url)} "
                          "or https://...")
    if p.scheme not in ("http", "https"):
        raise ConfigError(f"URL scheme {p.scheme!r} is not supported: use http or https")
    try:
        port = p.port
    except ValueError:
        raise ConfigError(f"URL {redact_url(url)!r} has an invalid port") from None
    if not p.hostname:
        raise ConfigError(f"URL {url.split('?')[0]!r} has no host")
    if p.username or p.password:
        raise ConfigError("credentials in the URL are not accepted: use --api-key-env")
    del port
    for pattern in (t for proto in protocols.PROTOCOLS for t in proto.not_base):
        typed = _as_typed(url).rstrip("/")
        m = re.search(pattern, typed)
        if m is not None and re.search(pattern, p.path.rstrip("/")):
            base = typed[: m.start()]
            raise ConfigError(f"URL {_as_typed(url)!r} is an endpoint path: give the base URL, e.g. {base}")
    return url.rstrip("/")


def parse_header(item: str) -> tuple[str, str] | None:
    """One ``Name: value`` header (``--header``, an entrants file's ``headers`` cell) as
    (name, value), both stripped; None when it has no ``:``. Validation is ``make_target``'s."""
    if ":" not in item:
        return None
    k, _, v = item.partition(":")
    return k.strip(), v.strip()


def make_target(base_url: str, model: str, protocol: str = "openai", api_key_env: str | None = None,
                headers: dict[str, str] | None = None, name: str | None = None,
                require_key: bool = True) -> Target:
    """Validate user input into a Target; errors are ConfigError (exit code 2)."""
    url = validate_base_url(base_url)
    proto = protocols.get(protocol)
    if proto is None:
        raise ConfigError(f"unknown protocol {protocol!r}: use one of {', '.join(protocols.names())}")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError("--model is empty")
    if api_key_env is not None:
        if not api_key_env or not api_key_env.replace("_", "").isalnum():
            raise ConfigError(f"--api-key-env {api_key_env!r} is not a valid variable name")
        if require_key and not os.environ.get(api_key_env):
            raise ConfigError(f"environment variable {api_key_env} is not set (named by --api-key-env)")
    else:
        default = proto.key_env
        if os.environ.get(default):
            api_key_env = default
    for k in (headers or {}):
        if not k or any(c in k for c in ":\r\n "):
            raise ConfigError(f"invalid header name {k!r}")
    for v in (headers or {}).values():
        if "\r" in v or "\n" in v:
            raise ConfigError("header values may not contain line breaks")
    return Target(base_url=url, model=model.strip(), protocol=protocol, api_key_env=api_key_env,
                  headers=dict(headers or {}), name=name)
