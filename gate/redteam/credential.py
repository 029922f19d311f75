"""Which secret the adversarial check sends to a release's endpoint, and whether it may.

The policy alone decides: `checks.adversarial.credential_env` names the one
environment variable that holds the endpoint's key, and `credential_hosts` the
hosts it may be sent to. release.yaml's `endpoint.api_key_env` is at most a
request that must name that same variable; it chooses nothing. A release whose
endpoint is not on an allowed host gets no key.

Endpoint URLs are release text: one that two HTTP clients could read as
different hosts (user info, backslashes, spaces, control or non-ASCII
characters) is refused before any host is compared.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gate.models.manifest import Endpoint, EndpointType

URL_TYPES = (EndpointType.OPENAI, EndpointType.REST)
_SAFE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[\x21-\x7e]+$")
_NETLOC = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?)(?::\d{1,5})?$")
_HOST_ENTRY = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$")


class CredentialRefused(Exception):
    """The release asked for a credential, or named a host, that the policy does not allow."""


@dataclass(frozen=True)
class Grant:
    key: str | None  # the secret to send; None: no credential
    variable: str | None  # the variable it came from (for messages, never the value)


def endpoint_host(url: str) -> tuple[str, int]:
    """(host, port) of an endpoint URL, lower-cased; ValueError for anything ambiguous."""
    if not _SAFE_URL.match(url) or "\\" in url:
        raise ValueError("the URL must be plain ASCII without spaces, control characters or backslashes")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"scheme '{parts.scheme}' is not http or https")
    if "@" in parts.netloc:
        raise ValueError("the URL must not carry user information ('user@host')")
    if not _NETLOC.match(parts.netloc):
        # Percent-escapes, underscores or stray brackets in a host are read differently by
        # different clients: only plain names, IPv4 and bracketed IPv6 are compared.
        raise ValueError(f"host '{parts.netloc}' is not a plain host name or address")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ValueError("the URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the URL's port is not a number between 0 and 65535") from None
    return host, port if port is not None else (443 if parts.scheme.lower() == "https" else 80)


def host_entry(entry: str) -> tuple[str, int | None]:
    """A policy host entry: 'host' (any port) or 'host:port'."""
    m = _HOST_ENTRY.match(entry.strip())
    if not m:
        raise ValueError(f"'{entry}' is not a host or host:port")
    host = m.group(1).strip("[]").rstrip(".").lower()
    if m.group(1).startswith("["):
        ipaddress.IPv6Address(host)  # raises ValueError for a malformed literal
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"'{entry}': port out of range")
    return host, port


def host_allowed(host: str, port: int, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        h, p = host_entry(entry)
        if h == host and (p is None or p == port):
            return True
    return False


def grant(
    endpoint: Endpoint,
    credential_env: str | None,
    credential_hosts: tuple[str, ...],
    environ: Mapping[str, str],
) -> Grant:
    """The credential the policy grants this endpoint; CredentialRefused when the release asks
    for one the policy does not give (the caller errors when the check is required, else skips)."""
    asked = endpoint.api_key_env
    if asked is not None and asked != credential_env:
        policy_says = f"names {credential_env}" if credential_env else "names no credential for this check"
        raise CredentialRefused(
            f"release.yaml endpoint.api_key_env asks for the variable {asked}, but the policy "
            f"{policy_says} (checks.adversarial.credential_env): only the policy chooses which secret "
            "is sent to an endpoint"
        )
    if credential_env is None or endpoint.type not in URL_TYPES:
        return Grant(None, None)
    try:
        host, port = endpoint_host(endpoint.url or "")
    except ValueError as exc:
        raise CredentialRefused(f"release.yaml endpoint.url: {exc}; no credential is sent to it") from None
    if not host_allowed(host, port, credential_hosts):
        if asked is None:
            return Grant(None, None)  # a keyless endpoint elsewhere: attacked without the key
        allowed = ", ".join(credential_hosts) or "none"
        raise CredentialRefused(
            f"release.yaml endpoint.url points at {host}:{port}, which is not a host the policy "
            f"allows for {credential_env} (checks.adversarial.credential_hosts: {allowed}); "
            "the credential is not sent"
        )
    value = environ.get(credential_env)
    if not value:
        raise CredentialRefused(
            f"environment variable {credential_env} (the policy's checks.adversarial.credential_env) "
            "is not set"
        )
    return Grant(value, credential_env)
