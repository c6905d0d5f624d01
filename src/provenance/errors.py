"""One exception tree for the whole tool.

Exit codes (documented in the README and in ``provenance --help``):

* 0  run completed (also when the answer is "unknown")
* 1  anything unexpected
* 2  usage or configuration error (bad URL, protocol, key variable, files, artifacts)
* 3  the endpoint was unusable (no probe succeeded)
* 4  ``verify --fail-on`` and the verdict was that
* 130 interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_UNUSABLE = 3
EXIT_INTERRUPTED = 130


class ProvenanceError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = EXIT_UNEXPECTED
    label = "error"          # the word after "provenance: " on its stderr line


class ConfigError(ProvenanceError):
    """Bad user input: options, URLs, files. Exit code 2."""

    exit_code = EXIT_USAGE


class ProbeFileError(ConfigError):
    """A probe definition file is unreadable or malformed."""


class ArtifactError(ConfigError):
    """A model artifact is missing, tampered, truncated or mismatched."""


class SchemaVersionError(ConfigError):
    """A file was written by a newer version of the tool."""


class StoreError(ConfigError):
    """The run store (SQLite) is corrupted, locked or unusable."""


class EndpointUnusable(ProvenanceError):
    """No probe succeeded against the target. Exit code 3."""

    exit_code = EXIT_UNUSABLE


class TransportError(ProvenanceError):
    """A request failed after its retries (recorded per probe, never fatal alone)."""


class BadResponse(TransportError):
    """The endpoint answered with something we cannot parse."""


class AuthError(TransportError):
    """401/403 from the endpoint."""


class RateLimited(TransportError):
    """429 that outlived the retries."""


class RunInterrupted(ProvenanceError):
    """The user interrupted a run (Ctrl-C); the message says what was saved and how to go on. Exit 130."""

    exit_code = EXIT_INTERRUPTED
    label = "interrupted"
