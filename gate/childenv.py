"""The environment of every process the gate starts: an allowlist, never `os.environ`.

A CI job's environment holds secrets: the gate's own (the signing key's password,
OIDC request tokens) and everyone else's (cloud keys, registry tokens). The tools
the gate runs (pip-audit, garak, promtool, git) need none of them, and garak
talks to an endpoint that a release names: so a child gets only the variables
listed here, plus what its caller adds explicitly (for garak, the one credential
the policy names). One function, used by every `subprocess` call in the gate.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# What any program needs to start and behave: where programs are, where home and
# scratch space are, the language, and which Python environment to use.
BASE_VARS = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "SYSTEMROOT",  # Windows: sockets and randomness do not work without it
        "NO_COLOR",
    }
)
BASE_PREFIXES = ("LC_",)

# For children that reach a network service: proxies and the CA bundle to trust.
NETWORK_VARS = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)

# Switches that keep Hugging Face libraries off the hub; never its token.
HF_OFFLINE_VARS = frozenset({"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"})


def child_env(
    *,
    network: bool = False,
    hf: bool = False,
    keep: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
    parent: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for one child process.

    `network`: pass proxy and CA settings; `hf`: pass the Hugging Face offline
    switches; `keep`: further variable names the caller vouches for (never a
    secret); `extra`: values set by the caller, which win over the parent's.
    """
    source = os.environ if parent is None else parent
    allowed = set(BASE_VARS) | set(keep)
    if network:
        allowed |= NETWORK_VARS
    if hf:
        allowed |= HF_OFFLINE_VARS
    env = {k: v for k, v in source.items() if k in allowed or k.startswith(BASE_PREFIXES)}
    if extra:
        env.update(extra)
    return env
