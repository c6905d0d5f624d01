"""`provenance probes list|show`: display the probe set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show the probe set (probes are data in probes/*.toml).", no_args_is_help=True)
    app.add_typer(group, name="probes")

    @group.command("list")
    def list_(
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        family: Optional[str] = typer.Option(None, "--family", help="Only this family."),
        json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
    ) -> None:
        """List the probes: id, family, mode, stream, max_tokens.

        Example: provenance probes list --family identity
        """
        from ..probes import load_probeset
        ps = load_probeset(probes_dir)
        probes = [p for p in ps.probes if family is None or p.family == family]
        if json_out:
            from .common import emit_json
            emit_json({"probeset": ps.info(), "probes": [p.canonical() for p in probes]})
            return
        lines = [f"{ps.name} {ps.version}  {ps.hash}  ({len(probes)} probes)"]
        w = max((len(p.id) for p in probes), default=10)
        for p in probes:
            lines.append(f"  {p.id:<{w}}  {p.family:<9} {p.mode:<8} {'stream' if p.stream else '      '}  max_tokens={p.max_tokens}")
        typer.echo("\n".join(lines))

    @group.command("show")
    def show(
        probe_id: str = typer.Argument(..., help="Probe id, e.g. identity.who_made_you"),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory."),
        json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
    ) -> None:
        """Show one probe in full: messages, sampling parameters, notes."""
        import json
        from ..errors import ConfigError
        from ..probes import load_probeset
        ps = load_probeset(probes_dir)
        try:
            p = ps.get(probe_id)
        except KeyError:
            raise ConfigError(f"no probe {probe_id!r} in {ps.name} {ps.version} (see `provenance probes list`)") from None
        if json_out:
            from .common import emit_json
            emit_json(p.canonical())
            return
        typer.echo(json.dumps(p.canonical(), ensure_ascii=False, indent=2))
