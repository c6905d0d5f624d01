"""Optional extras a command needs: a one-line error naming the extra to install (exit 2)."""

from __future__ import annotations

from ..errors import ConfigError
from ..installing import install_hint

# extra -> (import name, distribution name) of every third-party package its code imports
EXTRAS = {
    "train": (("sklearn", "scikit-learn"), ("scipy", "scipy"), ("matplotlib", "matplotlib")),
}


def require_extra(extra: str, command: str, imports: tuple[str, ...] | None = None) -> None:
    """Raise ConfigError (exit 2) when a package of ``extra`` (those of ``imports`` only, when
    given: ``eval --plots`` alone needs matplotlib) cannot be imported."""
    import importlib
    missing = []
    for mod, dist in EXTRAS[extra]:
        if imports is not None and mod not in imports:
            continue
        try:
            importlib.import_module(mod)
        except ImportError:
            missing.append(dist)
    if missing:
        raise ConfigError(f"`provenance {command}` needs the {extra} extra ({', '.join(missing)} missing): "
                          f"{install_hint(extra, missing)}")
