"""Batch matting on Ray Data: an actor pool in which each actor holds one ``Matter`` (one onnxruntime
session per stage per actor), for many photos on one machine or a cluster. Needs the ``[ray]`` extra.

Two entry points:

- ``matte_jobs``: the command line's ``--engine ray``. The caller plans (input, output) pairs and gives
  ``produce(matter, input_path) -> bytes`` (runs in the actors) and ``write(data, output_path)`` (runs
  here, in the driver), the same split as the local engine.
- ``matte_dataset``: for pipelines already on Ray; a dataset with a "path" (or "bytes") column in, the
  same rows with "png" (the output file's bytes) and "error" columns out.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from semhm_models.errors import RuntimeSetupError, SemhmError, no_person_notes
from semhm_models.options import RuntimeOptions
from semhm_models.weights import resolve

if TYPE_CHECKING:  # ray is an optional dependency
    import ray.data

    from semhm_models.api import Matter

OUTPUT_FORMATS = ("rgba", "alpha", "fg")
ITEM_ERRORS = (SemhmError, OSError, ValueError, Image.DecompressionBombError)  # a bad file: named, the batch goes on
Produce = Callable[["Matter", "str | bytes"], bytes]


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise RuntimeSetupError(f"the Ray engine needs Ray Data: pip install 'semhm[ray]' ({e})") from None
    return ray


def _message(name: str, e: BaseException) -> str:
    """The error text, with the file's name in front unless the message already has it."""
    return str(e) if name in str(e) else f"{name}: {e}"


class _Worker:
    """A Ray Data actor: one ``Matter``, then ``produce`` per row (batches of any size)."""

    def __init__(self, produce: Produce, source: str | None, options: RuntimeOptions) -> None:
        from semhm_models.api import Matter

        self.produce = produce
        self.matter = Matter.from_pretrained(source, options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "bytes" not in batch and "path" not in batch:
            raise ValueError(f"rows with columns {list(batch)}: matting needs a 'path' or a 'bytes' column")
        items = [bytes(b) for b in batch["bytes"]] if "bytes" in batch else [str(p) for p in batch["path"]]
        names = [str(p) for p in batch["path"]] if "path" in batch else ["<bytes>"] * len(items)
        data, errors, notes = [], [], []
        for item, name in zip(items, names, strict=True):
            try:
                with no_person_notes() as said:
                    data.append(self.produce(self.matter, item))
                errors.append(None)
                notes.append("; ".join(said) or None)
            except ITEM_ERRORS as e:
                data.append(b"")
                errors.append(_message(name, e))
                notes.append(None)
        out = {"png": data, "error": errors, "warning": notes}
        return {**batch, **{k: np.array(v, dtype=object) for k, v in out.items()}}


def _threads(options: RuntimeOptions, workers: int, local: bool) -> int:
    """CPU threads per actor: the options' (or SEMHM_THREADS); else this machine's cores shared among the
    actors when Ray is local, 1 on a cluster (whose nodes we cannot see from here)."""
    return options.session_threads() or (max(1, (os.cpu_count() or 1) // workers) if local else 1)


def _matte(ds, produce: Produce, source: str | None, options: RuntimeOptions, workers: int, gpus_per_worker: float, threads: int):
    ray = _import_ray()
    with warnings.catch_warnings():  # max_task_retries has no named parameter yet; Ray warns of its remote-args form
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated", category=Warning)
        return ds.map_batches(
            _Worker,
            fn_constructor_args=(produce, source, replace(options, threads=threads)),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2),
            num_cpus=threads,
            num_gpus=gpus_per_worker or None,
            max_task_retries=1,  # once for a lost node; a file that kills its worker (crash, out of memory) fails the run, never loops
        )


def _check_args(workers: int, gpus_per_worker: float) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers {workers!r}: must be a whole number of at least 1")
    if not 0 <= gpus_per_worker <= 64:
        raise ValueError(f"gpus_per_worker {gpus_per_worker!r}: must be between 0 and 64 (fractions share a GPU)")


def _quiet(ray) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # errors come back to the caller, by file


def matte_jobs(
    jobs: Sequence[tuple[str, str]],
    produce: Produce,
    write: Callable[[bytes, str], None],
    source: str | None = None,
    options: RuntimeOptions | None = None,
    workers: int = 2,
    gpus_per_worker: float = 0.0,
    address: str | None = None,
    report: Callable[[str, str | None], None] | None = None,
    warn: Callable[[str, str], None] | None = None,
) -> list[tuple[str, str | None]]:
    """Matte ``jobs`` (input path, output path) on a Ray actor pool of ``workers`` actors, each holding one
    ``Matter.from_pretrained(source, options)``.

    ``produce(matter, input_path) -> bytes`` runs in the actors (decode, matte, encode); ``write(data,
    output_path)`` runs here as results arrive, then ``report(input_path, error or None)``, and
    ``warn(input_path, message)`` for a NoPersonWarning ``produce`` issued (the file is written). A file that
    fails (``produce`` or ``write`` raising SemhmError, OSError or ValueError) gets an error message naming
    it and the others go on. ``gpus_per_worker`` > 0 makes GPU actors (fractions share a GPU).

    ``address``: an existing cluster ("auto", "ray://host:10001", ...). None: the Ray already started in
    this process, else a local one with only the CPUs (and GPUs) asked for, no dashboard, shut down after.
    CPU threads per actor: ``options.threads`` (or SEMHM_THREADS); else the cores split among the actors
    on a local Ray, 1 on a cluster.

    Returns (input path, error message or None) per job, in job order; if Ray fails midway, the jobs
    left say so. Raises ValueError for bad arguments, WeightsError for missing or tampered weights,
    RuntimeSetupError when Ray is missing, has too few GPUs, or its actors fail before any result.
    """
    _check_args(workers, gpus_per_worker)
    options = options or RuntimeOptions()
    results: list[tuple[str, str | None]] = [(str(i), None) for i, _ in jobs]
    if not jobs:
        return results
    ray = _import_ray()
    resolve(source)  # missing or tampered weights: the library's own error, before anything starts
    local = address is None and not ray.is_initialized()
    threads = _threads(options, workers, local)
    if local:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from a local run unless asked
        num_gpus = None if gpus_per_worker else 0  # GPUs: Ray counts the real ones
        ray.init(
            num_cpus=workers * threads,
            num_gpus=num_gpus,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            object_store_memory=1 << 30,
        )
    elif not ray.is_initialized():
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        _quiet(ray)
        have = ray.cluster_resources().get("GPU", 0.0)
        if gpus_per_worker and have < gpus_per_worker:
            raise RuntimeSetupError(f"{gpus_per_worker} GPU(s) per worker asked, but the Ray cluster has {have:g} GPU(s)")
        ds = ray.data.from_items([{"index": k, "path": str(i)} for k, (i, _) in enumerate(jobs)])
        left, why = set(range(len(jobs))), "no result came back"
        try:
            for row in _matte(ds, produce, source, options, workers, gpus_per_worker, threads).iter_rows():
                k = int(row["index"])
                inp, out = jobs[k]
                error = row["error"]
                if error is None:
                    try:
                        write(row["png"], out)
                    except ITEM_ERRORS as e:
                        error = f"{inp}: cannot write {out}: {e}"
                results[k] = (str(inp), error)
                left.discard(k)
                if report:
                    report(str(inp), error)
                if warn and error is None and row["warning"]:
                    warn(str(inp), row["warning"])
        except ray.exceptions.RayError as e:
            if isinstance(e, ray.exceptions.RayActorError) and e.actor_init_failed:  # e.g. the model does not load there
                raise RuntimeSetupError(f"the Ray workers could not start: {_last_line(e)}") from None
            why = f"the Ray job failed: {_last_line(e)}"
        for k in sorted(left):  # nothing lost silently: each unfinished job says why
            results[k] = (str(jobs[k][0]), f"{jobs[k][0]}: not matted, {why}")
            if report:
                report(*results[k])
    finally:
        if local:
            ray.shutdown()
    return results


def _last_line(e: BaseException) -> str:
    """The exception line at the end of a Ray error's text (Ray keeps only the text of an actor's error)."""
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(e).__name__


def encode(matter: Matter, item: str | bytes, output_format: str = "rgba") -> bytes:
    """One image (a path, or an encoded file's bytes) -> the PNG bytes of its RGBA cutout (uint8, MRN's
    foreground colours), 8-bit alpha or foreground colours. Raises ImageError for an unreadable image;
    issues a NoPersonWarning when MPN found no person (the PNG is made all the same)."""
    from semhm_models.api import warn_no_person

    buf = io.BytesIO()
    matte = matter(item)
    matte.image(output_format).save(buf, format="PNG")
    warn_no_person([matte.person])
    return buf.getvalue()


def matte_dataset(
    ds: ray.data.Dataset,
    source: str | None = None,
    options: RuntimeOptions | None = None,
    output_format: str = "rgba",
    workers: int = 2,
    gpus_per_worker: float = 0.0,
) -> ray.data.Dataset:
    """Matte a Ray dataset lazily: rows with a "bytes" column (encoded image files, as
    ``ray.data.read_binary_files(..., include_paths=True)`` makes) or only a "path" column (files the
    workers can read) come back with every column kept plus "png" (bytes of the output PNG:
    ``output_format`` "rgba", "alpha" or "fg"; empty on failure) and "error" (None, or a message naming
    the "path", "<bytes>" without one) and "warning" (None, or "no person found (score ...)..." when MPN
    found no person: the PNG is made all the same).

    Uses the Ray this process is connected to (``ray.init`` it first for a cluster). CPU threads per actor:
    ``options.threads`` (or SEMHM_THREADS), else 1 (set it to the cores of a node divided by its actors).
    Raises ValueError for a bad argument or a dataset with neither column."""
    _check_args(workers, gpus_per_worker)
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format {output_format!r}: choose {', '.join(OUTPUT_FORMATS)}")
    columns = ds.columns(fetch_if_missing=False)  # None when unknown without running the pipeline
    if columns is not None and "path" not in columns and "bytes" not in columns:
        raise ValueError(f"the dataset has columns {columns}: it needs a 'path' or a 'bytes' column")
    options = options or RuntimeOptions()  # the pipeline's own Ray settings (progress, logging) stay as they are
    produce = partial(encode, output_format=output_format)
    return _matte(ds, produce, source, options, workers, gpus_per_worker, _threads(options, workers, local=False))


__all__ = ["OUTPUT_FORMATS", "encode", "matte_dataset", "matte_jobs"]
