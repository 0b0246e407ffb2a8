"""What several commands share: the runtime options, the output formats and the safe atomic write."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import sys
import tempfile
from pathlib import Path

from semhm_models.errors import SemhmError, unreadable
from semhm_models.options import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    DEFAULT_MRN_SIDE,
    PRECISION_CHOICES,
    PROVIDER_CHOICES,
    ZOOM_CHOICES,
    RuntimeOptions,
)

FORMATS = ("rgba", "alpha", "fg", "composite")
# output file suffix -> Pillow format; the suffix of -o decides the format of a single output file
FILE_FORMATS = {".png": "PNG", ".webp": "WEBP", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".tif": "TIFF", ".tiff": "TIFF"}
KEEPS_ALPHA = ("PNG", "WEBP", "GIF", "TIFF")  # GIF: 1-bit
SAVE_OPTIONS = {"WEBP": {"lossless": True}, "JPEG": {"quality": 95}, "TIFF": {"compression": "tiff_adobe_deflate"}}
STDIO = "-"
STDIN_NAME = "<stdin>"  # how messages name stdin
NOT_REGULAR = "not a regular file (a pipe or a device); pipe it into - instead"  # what matte and refine say of one


def output_path(v: str) -> str:
    """-o: a path, or - for stdout; never empty (an unset shell variable would write into the current folder)."""
    if not v.strip():
        raise argparse.ArgumentTypeError("empty: give a file, a folder, or - for stdout")
    return v


def max_side(v: str) -> int | None:
    """--max-side, --mrn-side: a number of pixels, or "none" for no limit (checked by RuntimeOptions)."""
    if v.strip().lower() == "none":
        return None
    try:
        return int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r}: a whole number of pixels (at least 32), or none") from None


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="SOURCE", help="weights: a folder, hf://org/name@rev; default: bundled")
    p.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES, help="execution provider (default: auto)")
    p.add_argument(
        "--max-side",
        type=max_side,
        default=DEFAULT_MAX_SIDE,
        metavar="N|none",
        help="longest side the matte is computed at, at least 32; larger inputs are matted smaller and upsampled (default: "
        f"{str(DEFAULT_MAX_SIDE).lower()}: always full size)",
    )
    p.add_argument(
        "--mrn-side",
        type=max_side,
        default=DEFAULT_MRN_SIDE,
        metavar="N|none",
        help=f"longest side MRN's network runs at, at least 32; above it a guided filter brings the matte up to full size with "
        f"the photo's edges (default: {DEFAULT_MRN_SIDE}; none: MRN at full size, slower and memory-hungry on large photos)",
    )
    bombs = f"refuse images with more pixels, as possible decompression bombs (default: {DEFAULT_MAX_PIXELS:,})"
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=bombs)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for onnxruntime (default: $SEMHM_THREADS, else all cores)")
    p.add_argument(
        "--precision", default="auto", choices=PRECISION_CHOICES, help="weights: auto (fp16 on a GPU where the weights have it), fp32, fp16"
    )
    p.add_argument(
        "--zoom",
        default="auto",
        choices=ZOOM_CHOICES,
        help="auto: run the chain on a crop: in matte around each person the weights' locator finds (persons small in a wide "
        "photo come out whole), in refine around a --box, and around a --mask whose person may be small for the network (its "
        "matte on the whole photo small or grey); off: always on the whole photo (default: auto)",
    )


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        default=None,
        choices=FORMATS,
        help="rgba cutout (default), 8-bit alpha, foreground colours, or composite over --bg (implied by --bg)",
    )
    p.add_argument(
        "--bg",
        default=None,
        metavar="COLOR|IMAGE",
        help="background of a composite: a colour (white, #rrggbb, r,g,b) or an image file; giving it implies --format composite "
        "and any other --format with it is an error; a JPEG output of a cutout composites over it (default white)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """The command's options as one checked RuntimeOptions; ValueError (one line) before any model loads."""
    try:
        opts = RuntimeOptions(
            provider=args.provider,
            precision=args.precision,
            threads=args.threads,
            max_side=args.max_side,
            mrn_side=args.mrn_side,
            max_pixels=args.max_pixels,
            zoom=args.zoom,
        )
    except ValueError as e:  # the messages name the API's fields: say the command line's flags
        field = str(e).split(" ", 1)[0]
        raise ValueError(f"--{field.replace('_', '-')} " + str(e).split(" ", 1)[1].replace("(or None for", "(or none for")) from None
    opts.session_threads()  # SEMHM_THREADS checked now, not when the first session opens
    return opts


def output_format(args: argparse.Namespace) -> str:
    """--format after --bg: --bg alone implies composite; --bg with another format is an error."""
    if args.bg is not None and args.format not in (None, "composite"):
        raise ValueError(f"--bg {args.bg} goes with --format composite, not --format {args.format}")
    fmt = args.format or ("composite" if args.bg is not None else "rgba")
    Renderer(fmt, args.bg)  # a bad colour fails before any work
    return fmt


def names_a_file(out: str) -> bool:
    """Whether ``-o out`` names one output file (an image suffix, not an existing folder) or stdout."""
    from PIL import Image

    return out == STDIO or (Path(out).suffix.lower() in Image.registered_extensions() and not Path(out).is_dir())


def file_format(path: Path) -> str:
    """The Pillow format a single output file gets from its suffix; ValueError for any other suffix."""
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: cannot write {path.suffix or 'a file without suffix'}; use one of {', '.join(sorted(FILE_FORMATS))}")
    return fmt


def fit_format(fmt: str, bg: str | None, pil_format: str, out: Path) -> tuple[str, str | None]:
    """(format, background) for an output file of ``pil_format``: a cutout into a file without alpha (JPEG)
    becomes a composite over ``bg`` (white by default); both that and GIF's 1-bit alpha are said on stderr."""
    if fmt == "rgba" and pil_format not in KEEPS_ALPHA:
        print(f"note: {pil_format} has no alpha: {out} is the cutout composited over {bg or 'white'} (--bg)", file=sys.stderr)
        return "composite", bg or "white"
    if fmt == "rgba" and pil_format == "GIF":
        print(f"note: GIF holds 1-bit transparency: {out} is transparent where alpha < 0.5", file=sys.stderr)
    return fmt, bg


def encode(im, pil_format: str) -> bytes:
    """A PIL image as the bytes of a file of ``pil_format``."""
    from semhm_models.frames import gif_frame

    buf = io.BytesIO()
    im = gif_frame(im) if pil_format == "GIF" else im  # transparent below alpha 0.5, as the note says
    im.save(buf, format=pil_format, **SAVE_OPTIONS.get(pil_format, {}))
    return buf.getvalue()


def stdin_bytes() -> bytes:
    """All of stdin ("-" as an input); SemhmError when it is closed, or a terminal, where nothing would ever come."""
    if sys.stdin is None or sys.stdin.isatty():
        raise SemhmError(f"-: stdin is {'closed' if sys.stdin is None else 'a terminal'}; pipe or redirect a file into it")
    return sys.stdin.buffer.read()


def check_stdout() -> None:
    """For ``-o -``: SemhmError when stdout is closed, or a terminal, which image bytes would garble."""
    if sys.stdout is None or sys.stdout.isatty():
        raise SemhmError(f"-o -: stdout is {'closed' if sys.stdout is None else 'a terminal'}; redirect it to a file or a pipe")


def drop_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered for it is not written again, and failed again,
    when Python exits (Python's documented recipe for SIGPIPE)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_file(data: bytes, out: str | Path) -> None:
    """Write ``data`` to ``out`` atomically: a temporary file created exclusively (unpredictable name, links
    not followed) in the target's folder, written, synced, then renamed over ``out``. On any failure,
    Ctrl-C included, the temporary file is removed. ``out`` "-" writes to stdout. Raises SemhmError naming
    ``out`` when it cannot be written."""
    if str(out) == STDIO:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise  # the reader went away: cli.main ends quietly
        except OSError as e:  # a full disk: said once; what is still buffered goes nowhere
            drop_stdout()
            raise SemhmError(f"{STDIO}: cannot write to stdout: {e.strerror or e}") from None
        return
    out = Path(out)
    if out.is_dir():
        raise SemhmError(f"{out}: is a folder; give a file name")
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")  # O_CREAT | O_EXCL, mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
        tmp = None
    except OSError as e:
        raise SemhmError(f"{out}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@functools.cache
def _umask() -> int:
    """The process's umask, read once (reading it means setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def real_path(path: str | os.PathLike) -> Path:
    """The absolute path with every link followed; never raises (Path.resolve does on a link loop before
    Python 3.13)."""
    return Path(os.path.realpath(path))


def check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written, before any work: the folder, or the nearest of its
    parents that exists, must take a new file. Raises SemhmError naming the folder."""
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise SemhmError(f"{folder}: cannot be created: {probe} is a broken link or a link in a loop")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe == folder and not probe.is_dir():
        raise SemhmError(f"{folder}: is not a folder")
    if not probe.is_dir():
        raise SemhmError(f"{folder}: cannot be created: {probe} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise SemhmError(f"{folder}: output folder is not writable ({probe}: {e.strerror or e})") from None


def looks_like_colour(spec: str) -> bool:
    """A --bg that is meant as a colour, not a file: no folder part and no image suffix."""
    from PIL import Image

    return "/" not in spec and os.sep not in spec and Path(spec).suffix.lower() not in Image.registered_extensions()


def check_background(path: str) -> None:
    """A --bg image file that exists and Pillow can open (header only); ValueError naming it otherwise."""
    from PIL import Image

    if not Path(path).is_file():
        raise ValueError(f"--bg {path}: no such file (give a colour: white, #rrggbb, r,g,b; or an image file)")
    try:
        with Image.open(path):
            pass
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"--bg {path}: {unreadable(e)}") from None


class Renderer:
    """A Matte -> the PIL image of one output ``fmt`` (rgba, alpha, fg, composite over ``bg``: a colour,
    checked here, ValueError; or an image file, loaded once when first needed)."""

    def __init__(self, fmt: str, bg: str | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        from semhm_models import processing as pp

        self.fmt, self.bg, self.max_pixels = fmt, bg or "white", max_pixels
        self._back = None if Path(self.bg).is_file() else pp.parse_color(self.bg) if looks_like_colour(self.bg) else None
        if self._back is None and fmt == "composite":
            check_background(self.bg)

    def __call__(self, matte):
        from PIL import Image

        if self.fmt != "composite":
            return matte.image(self.fmt)
        if self._back is None:
            from semhm_models.images import load_rgb

            self._back = load_rgb(self.bg, self.max_pixels)
        return Image.fromarray(matte.composite(self._back), "RGB")
