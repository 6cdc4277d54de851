"""CLI commands for bringing real data in: ``trackrec import-spotify``.

Wire into the main app with ``trackrec.data.commands.register(app)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]


def _error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def import_spotify_command(
    files: Annotated[list[Path], typer.Argument(help="Spotify 'Extended streaming history' JSON files "
                                                     "(Streaming_History_Audio_*.json) or a folder of them.",
                                                show_default=False)],
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Setup directory whose data/ gets the plays.")]
    = Path("trackrec-work"),
    user: Annotated[Optional[str], typer.Option("--user", help="User id for these plays (default: "
                                                "spotify-<username> from the export, else spotify-user).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the import report as JSON to stdout.")] = False,
):
    """Add one person's Spotify listening history to WORKDIR as a user.

    Tracks are matched to the catalogue by Spotify URI, else by (artist, title) ignoring case and
    spacing; unmatched tracks are added to the catalogue without content features. Importing the
    same files again adds nothing. Then train, and that person gets recommendations learned from
    everyone in WORKDIR.

    Example: trackrec import-spotify my_spotify_data/Streaming_History_Audio_*.json --workdir demo --user me
    """
    from ..exceptions import TrackrecError
    from .spotify import import_spotify

    try:
        report = import_spotify(files, workdir, user=user)
    except TrackrecError as exc:
        _error(str(exc))
    except (OSError, ValueError) as exc:
        _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
        return
    skipped = ", ".join(f"{n} {reason}" for reason, n in report["skipped_rows"].items()) or "none"
    typer.echo(f"imported {report['plays']} play(s) as user {report['user_id']} into {report['sessions']}")
    typer.echo(f"tracks: {report['matched_tracks']} matched ({report['matched_by_uri']} by URI, "
               f"{report['matched_by_title']} by artist+title), {report['unmatched_tracks']} not in the catalogue "
               f"({report['new_catalog_tracks']} added without content features)")
    typer.echo(f"plays: {report['matched_plays']} of catalogue tracks, {report['unmatched_plays']} of other tracks; "
               f"rows skipped: {skipped}")
    for note in report.get("notes", []):
        typer.echo(f"note: {note}")
    typer.echo(f"next: trackrec train --workdir {workdir} && trackrec recommend --workdir {workdir} "
               f"--user {report['user_id']}")


def register(app: typer.Typer) -> None:
    """Add ``import-spotify`` to the ``trackrec`` app."""
    app.command("import-spotify")(import_spotify_command)
