"""`semhm matte`: files, folders, globs or stdin in; one file, a folder of files, or stdout out."""

from __future__ import annotations

import argparse
import errno
import glob
import importlib.util
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from semhm_models.commands.common import (
    NOT_REGULAR,
    STDIN_NAME,
    STDIO,
    Renderer,
    add_model_args,
    add_output_args,
    check_stdout,
    check_writable,
    encode,
    file_format,
    fit_format,
    names_a_file,
    output_format,
    output_path,
    real_path,
    runtime_options,
    stdin_bytes,
    write_file,
)
from semhm_models.errors import ImageError, SemhmError, no_person_notes
from semhm_models.frames import ANIMATED, encode_frames, probe, read_frames
from semhm_models.progress import progress, say


def add_parser(sub) -> None:
    m = sub.add_parser(
        "matte",
        help="matte files, folders, globs or stdin into a file, a folder or stdout",
        description="Matte photos of people. -o FILE (.png .webp .jpg .gif .tif) writes one file in that format; -o FOLDER writes "
        "FOLDER/<name>.png per input (animated GIF/WebP/PNG and multi-page TIFF keep their kind); -o - writes PNG to stdout. "
        "PNG, WebP and TIFF keep 8-bit alpha, GIF 1-bit; a JPEG output of a cutout is composited over --bg (white by default).",
    )
    m.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs; - reads one image from stdin")
    m.add_argument(
        "-o",
        "--output",
        required=True,
        type=output_path,
        metavar="OUT",
        help="a file (its suffix sets the format), a folder, or - for stdout",
    )
    m.add_argument("--recursive", action="store_true", help="descend into sub-folders (mirrored under the output folder)")
    add_output_args(m)
    add_model_args(m)
    e = m.add_argument_group("engine")
    e.add_argument("--engine", default="local", choices=("local", "ray"), help="local: this process (default); ray: a Ray cluster")
    e.add_argument("--ray-address", metavar="ADDRESS", help="with --engine ray: the cluster to join (default: start a local one)")
    e.add_argument("--workers", type=int, metavar="N", help="with --engine ray: workers, each with its own model (default: 2)")
    e.add_argument("--num-gpus-per-worker", type=float, metavar="F", help="with --engine ray: GPUs per worker, e.g. 0.5 (default: 0)")
    m.set_defaults(run=run)


@dataclass
class Item:
    """One input found: its path ("-" for stdin), its output name relative to an output folder, and
    its Pillow format and frame count from the header."""

    path: str
    rel: Path
    format: str
    frames: int


@dataclass
class Producer:
    """``produce(matter, input_path) -> bytes``: decode, matte every frame, encode the output file.
    Picklable (a Ray worker calls it where its Matter is). Stills become ``still_format`` files;
    animated inputs become ``animated_format`` files, or files of their own kind when that is None."""

    fmt: str
    bg: str | None
    still_format: str
    animated_format: str | None
    max_pixels: int
    stdin: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.render = Renderer(self.fmt, self.bg, self.max_pixels)

    def source(self, input_path: str):
        """The file as the library should see it: the original path, or stdin's bytes."""
        if input_path != STDIO:
            return input_path
        if self.stdin is None:
            raise ImageError(f"{STDIN_NAME}: empty input")
        return io.BytesIO(self.stdin)

    def __call__(self, matter, input_path: str) -> bytes:
        """The output file's bytes; a NoPersonWarning when MPN found no person (in some frames)."""
        from semhm_models.api import warn_no_person

        scores: list[float] = []

        def render(image):
            matte = matter(image)
            scores.append(matte.person)
            return self.render(matte)

        _, n = probe(self.source(input_path))
        if n > 1:
            fr = read_frames(self.source(input_path), self.max_pixels)
            data = encode_frames([render(im) for im in fr.images], fr.durations, fr.loop, self.animated_format or fr.format)
        else:
            data = encode(render(self.source(input_path)), self.still_format)  # the library reads stdin's bytes
        warn_no_person(scores)
        return data


class Batch:
    """The counts of one run: written + skipped + failed = done; ``no_person``: written files in which MPN
    found no person."""

    def __init__(self) -> None:
        self.written = self.skipped = self.failed = self.no_person = 0

    def warn(self, name: str, note: str) -> None:
        """A written file in which no person was found (``api.no_person_note``)."""
        self.no_person += 1
        say(f"warning: {name}: {note}")

    def fail(self, msg: str) -> None:
        self.failed += 1
        say(f"error: {msg}")

    def skip(self, msg: str) -> None:
        self.skipped += 1
        say(f"skipped: {msg}")

    def summary(self, where: str, provider: str) -> str:
        done = self.written + self.skipped + self.failed
        found = f", {self.no_person} with no person found" if self.no_person else ""
        return f"{done} done: {self.written} written to {where}, {self.skipped} skipped, {self.failed} failed{found} ({provider})"


def _probe_item(path: Path, rel: Path, batch: Batch, strict: bool) -> Item | None:
    """An Item, or None after reporting the file: an error when it was named (``strict``) or looks like an
    image by its suffix, a skip otherwise (a folder's notes.txt)."""
    from PIL import Image

    try:
        fmt, n = probe(path)
    except ImageError as e:
        if strict or path.suffix.lower() in Image.registered_extensions():
            batch.fail(f"{path}: empty file (0 bytes)" if path.stat().st_size == 0 else str(e))
        else:
            batch.skip(f"{path} (not an image Pillow can open)")
        return None
    return Item(str(path), rel, fmt, n)


def _not_a_file(path: Path) -> str:
    """Why a folder's entry that is neither a file nor a folder is skipped."""
    try:
        path.stat()
    except OSError as e:
        return "a link in a loop" if e.errno == errno.ELOOP else "a broken link" if path.is_symlink() else e.strerror or str(e)
    return "not a regular file"


def _walk(folder: Path, batch: Batch) -> list[Path]:
    """Everything under ``folder``, sorted, links to folders not followed (as ``Path.rglob``); a sub-folder it
    cannot read fails by name (rglob would pass it over in silence) and the rest is still found."""

    def unreadable(e: OSError) -> None:
        if Path(e.filename) == folder:  # the folder itself: the caller's one line
            raise e
        batch.fail(f"{e.filename}{os.sep}: cannot read: {e.strerror or e}")

    found = []
    for root, dirs, files in os.walk(folder, onerror=unreadable):
        found += [Path(root, n) for n in dirs + files]
    return sorted(found)


def expand_inputs(inputs: list[str], recursive: bool, exclude: Path | None, batch: Batch, stdin: bytes | None = None) -> list[Item]:
    """The images named by files, folders, globs and "-" (``stdin``'s bytes); every file of a folder is
    tried with Pillow, and those it cannot open are reported by name. Nothing under ``exclude`` (the
    output folder) is read."""
    items: list[Item] = []

    def excluded(f: Path, scanned: Path) -> bool:  # an output folder inside the scanned one (not the same)
        return exclude is not None and exclude != real_path(scanned) and real_path(f).is_relative_to(exclude)

    for spec in inputs:
        try:
            p = Path(spec)
            if spec == STDIO:
                try:
                    items.append(Item(STDIO, Path("stdin"), *probe(io.BytesIO(stdin or b""))))
                except ImageError:
                    batch.fail(f"{STDIN_NAME}: " + ("empty input" if not stdin else "not an image Pillow can read"))
            elif p.is_dir():
                entries = [f for f in (_walk(p, batch) if recursive else sorted(p.iterdir())) if not excluded(f, p)]
                found = [f for f in entries if f.is_file()]
                for f in entries:  # what is neither a file nor a folder is said, not dropped
                    if f.is_dir() and not recursive:
                        batch.skip(f"{f}{os.sep} (a sub-folder; use --recursive)")
                    elif not f.is_dir() and not f.is_file():
                        batch.skip(f"{f} ({_not_a_file(f)})")
                if not found:
                    batch.fail(f"{spec}: folder holds no files" + ("" if recursive else " (use --recursive for sub-folders)"))
                for f in found:
                    item = _probe_item(f, f.relative_to(p).with_suffix(""), batch, strict=False)
                    items += [item] if item else []
            elif p.exists() and not p.is_file():  # a pipe (<(...)) or a device: read once, it is gone for the matte
                batch.fail(f"{spec}: {NOT_REGULAR}")
            elif p.exists():
                item = _probe_item(p, Path(p.stem), batch, strict=True)
                items += [item] if item else []
            elif glob.has_magic(spec):
                found = sorted(Path(f) for f in glob.glob(spec, recursive=recursive) if Path(f).is_file())
                if not found:
                    batch.fail(f"{spec}: no files match")
                for f in found:
                    item = _probe_item(f, Path(f.stem), batch, strict=True)
                    items += [item] if item else []
            else:
                batch.fail(f"{spec}: no such file or folder")
        except OSError as e:  # a folder or file this user may not read; the rest still run
            batch.fail(f"{spec}: cannot read: {e.strerror or e}")
    return items


def _plan(args, folder: Path | None, items: list[Item], batch: Batch) -> list[tuple[str, str]]:
    """(input, output) jobs into ``folder``, or into the one file -o names when it is None; inputs that
    would replace an input or another output fail, existing outputs are skipped unless --overwrite."""
    out = Path(args.output)
    inputs = {real_path(Path(i.path)) for i in items if i.path != STDIO}
    planned: dict[Path, str] = {}
    for item in items:
        if folder is None:
            target = out
            if item.frames > 1 and args.output != STDIO and file_format(out) not in ANIMATED:
                batch.fail(f"{item.path}: has {item.frames} frames and {out.suffix} holds one; use .gif, .webp, .png or .tif")
                continue
        elif item.path == STDIO:
            raise SemhmError("-: stdin goes with -o FILE or -o - (stdout)")
        else:
            suffix = ANIMATED.get(item.format, (".png",))[0] if item.frames > 1 else ".png"
            target = folder / item.rel.with_suffix(suffix)
        if args.output == STDIO:
            return [(item.path, STDIO)]
        if real_path(target) in inputs:
            batch.fail(f"{item.path}: output {target} would replace an input file; choose another -o")
        elif target in planned:
            batch.fail(f"{item.path}: output {target} is already the output of {planned[target]}; rename one of them")
        elif target.exists() and not args.overwrite:
            batch.skip(f"{target} exists (use --overwrite)")
        else:
            planned[target] = item.path
    return [(i, str(o)) for o, i in planned.items()]


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    options = runtime_options(args)
    ray_only = {"--ray-address": args.ray_address, "--workers": args.workers, "--num-gpus-per-worker": args.num_gpus_per_worker}
    if args.engine != "ray" and (given := [flag for flag, value in ray_only.items() if value is not None]):
        raise ValueError(f"{', '.join(given)}: only with --engine ray (this run is --engine {args.engine})")
    args.workers = 2 if args.workers is None else args.workers
    args.num_gpus_per_worker = 0.0 if args.num_gpus_per_worker is None else args.num_gpus_per_worker
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers}: give at least 1")
    if args.num_gpus_per_worker < 0:
        raise ValueError(f"--num-gpus-per-worker {args.num_gpus_per_worker:g}: give 0 or more")
    if args.output == STDIO:
        check_stdout()
    out = Path(args.output)
    to_file = args.output != STDIO and names_a_file(args.output)
    still = file_format(out) if to_file else "PNG"
    folder = None if args.output == STDIO or to_file else out
    if folder is not None and folder.exists() and not folder.is_dir():  # /dev/stdout, a file without a suffix
        raise SemhmError(f"-o {folder}: is neither a folder nor a file name with an image suffix (.png, .webp, ...); - is stdout")
    batch = Batch()
    stdin = stdin_bytes() if STDIO in args.inputs else None
    items = expand_inputs(args.inputs, args.recursive, real_path(folder) if folder else None, batch, stdin)
    if folder is None and (len(args.inputs) > 1 or len(items) > 1 or any(Path(s).is_dir() for s in args.inputs if s != STDIO)):
        raise SemhmError(f"-o {args.output}: one output file for several inputs; give a folder instead")
    jobs = _plan(args, folder, items, batch)
    fmt, bg = fit_format(fmt, args.bg, still, out) if jobs else (fmt, args.bg)
    if args.output != STDIO and jobs:
        check_writable(folder or out.parent)
    producer = Producer(fmt, bg, still, None if folder else still, options.max_pixels, stdin)
    where = "stdout" if args.output == STDIO else str(out)
    provider = "nothing to run"
    if jobs and args.engine == "ray":
        provider = _run_ray(args, jobs, producer, options, batch)
    elif jobs:
        from semhm_models.api import Matter

        matter = Matter.from_pretrained(args.model, options)
        provider = matter.provider
        try:
            for inp, dst in progress(jobs, "matte", name=lambda job: _name(job[0])):
                try:
                    with no_person_notes() as notes:
                        data = producer(matter, inp)
                    write_file(data, dst)
                    batch.written += 1
                    for note in notes:
                        batch.warn(_name(inp), note)
                except BrokenPipeError:
                    raise  # stdout's reader went away: end quietly (cli.main)
                except (SemhmError, OSError, ValueError) as e:
                    batch.fail(_message(inp, e))
        except KeyboardInterrupt:  # Ctrl-C: what was finished, then cli.main says "interrupted" (exit 130)
            print(batch.summary(where, provider), file=sys.stderr)
            raise
    print(batch.summary(where, provider), file=sys.stderr)
    return 1 if batch.failed else 0


def _name(inp: str) -> str:
    return STDIN_NAME if inp == STDIO else inp


def _message(inp: str, e: Exception) -> str:
    """An error naming its input once (the library names stdin's PIL image <PngImageFile>: replaced)."""
    name, msg = (STDIN_NAME, re.sub(r"^<\w+>: ", "", str(e))) if inp == STDIO else (inp, str(e))
    return msg if name in msg else f"{name}: {msg}"


def _run_ray(args, jobs, producer: Producer, options, batch: Batch) -> str:
    if importlib.util.find_spec("ray") is None:
        raise SemhmError("--engine ray needs Ray: pip install 'semhm[ray]'")
    from semhm_models.ray_engine import matte_jobs

    if producer.stdin is not None:
        raise SemhmError("--engine ray reads files, not stdin")

    def report(inp: str, error: str | None) -> None:
        print(f"matte: {inp}" + (f": {error}" if error else ""), file=sys.stderr)

    results = matte_jobs(
        jobs,
        producer,
        write_file,
        args.model,
        options,
        workers=args.workers,
        gpus_per_worker=args.num_gpus_per_worker,
        address=args.ray_address,
        report=report,
        warn=batch.warn,
    )
    for inp, error in results:
        if error is None:
            batch.written += 1
        else:
            batch.fail(_message(inp, Exception(error)))
    return f"ray, {args.workers} workers"
