"""``trackrec benchmark``: the evaluation protocol over every model (thin CLI over
:mod:`trackrec.evaluation.benchmark`)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cli import JsonOpt, QuietOpt, _errors, _fail, _print_json, _steps, err

DATASETS = ("lastfm-hetrec2011",)


def register(app: typer.Typer) -> None:
    @app.command()
    def benchmark(
        dataset: Annotated[Optional[str], typer.Option("--dataset", help="Named dataset: lastfm-hetrec2011.")] = None,
        data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Folder of the named dataset's files.")] = None,
        sessions: Annotated[Optional[Path], typer.Option("--sessions", help="Generic event file (CSV/TSV/Parquet) instead of a named dataset.")] = None,
        catalog: Annotated[Optional[Path], typer.Option("--catalog", help="Optional catalogue for content models.")] = None,
        sep: Annotated[Optional[str], typer.Option("--sep", help="Field separator of --sessions ('\\t', ',', ' ' = any whitespace).")] = None,
        no_header: Annotated[bool, typer.Option("--no-header", help="--sessions has no header row (then --columns is required).")] = False,
        columns: Annotated[Optional[str], typer.Option("--columns", help="Field names of the file's columns in order, '_' skips one, e.g. user_id,track_id,weight,played_at.")] = None,
        encoding: Annotated[str, typer.Option("--encoding", help="Text encoding of --sessions.")] = "utf-8",
        models: Annotated[Optional[str], typer.Option("--models", help="Comma-separated model names (default: all).")] = None,
        seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..N-1; mean ± std over them.", min=1)] = 3,
        tune: Annotated[int, typer.Option("--tune", help="Optuna trials for EASE and iALS per seed, on a validation split of train.", min=0)] = 0,
        out_dir: Annotated[Optional[Path], typer.Option("--out", help="Write results.md, results.json and PNG plots here.")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ):
        """Run the offline evaluation protocol for every model and print a Markdown table.

        Example: trackrec benchmark --dataset lastfm-hetrec2011 --data-dir ../shared/datasets/lastfm-hetrec2011 --out bench
        Example (any event file): trackrec benchmark --sessions u.data --sep '\\t' --no-header --columns user_id,track_id,weight,played_at
        """
        from ..data.loaders import read_catalog, read_sessions
        from .benchmark import ALL_MODELS, results_markdown, run_benchmark, write_results
        from ..data import schema as S
        names = [m.strip() for m in models.split(",")] if models else list(ALL_MODELS)
        for n in names:
            if n not in S.MODEL_NAMES:
                _fail(f"--models: unknown model '{n}'; expected some of {', '.join(S.MODEL_NAMES)}")
        with _errors():
            if dataset is not None:
                if dataset not in DATASETS:
                    _fail(f"--dataset: unknown dataset '{dataset}'; expected one of {', '.join(DATASETS)} "
                          "(or pass --sessions FILE)")
                if data_dir is None:
                    _fail("--dataset needs --data-dir (the folder holding the dataset's files)")
                from ..data.lastfm import load_lastfm_hetrec
                sess, cat = load_lastfm_hetrec(data_dir)
                name = dataset
            elif sessions is not None:
                cols = [c.strip() for c in columns.split(",")] if columns else None
                sess, rep = read_sessions(sessions, sep=sep, header=not no_header, columns=cols, encoding=encoding)
                if not quiet and (rep.problems or rep.notes):
                    err.print(rep.summary(), highlight=False, soft_wrap=True)
                cat = read_catalog(catalog)[0] if catalog is not None else None
                name = sessions.name
            else:
                _fail("pass --dataset NAME --data-dir PATH, or --sessions FILE")
            with _steps(quiet, total=seeds * len(names)) as step:
                results = run_benchmark(sess, cat, models=names, seeds=seeds, tune=tune, dataset_name=name,
                                        progress=step)
            if out_dir is not None:
                written = write_results(results, out_dir)
                if not quiet:
                    err.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
        if json_out:
            _print_json(results)
        else:
            print(results_markdown(results))
