"""The ``semhm`` command line: one table of commands, each in ``semhm_models.commands.<name>`` with
``add_parser(subparsers)`` and ``run(args) -> int``. Command modules import only the standard library
and semhm's light modules at the top; onnxruntime, gradio, torch and scipy load when a command runs."""

from __future__ import annotations

import argparse
import importlib
import sys

from semhm_models import __version__
from semhm_models.commands.common import drop_stdout
from semhm_models.errors import SemhmError

COMMANDS = ("matte", "refine", "eval", "bench", "doctor", "download", "demo", "gimp")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semhm", description="Semantic human matting: photo of a person in, alpha matte out.")
    p.add_argument("--version", action="version", version=f"semhm {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"semhm_models.commands.{name}").add_parser(sub)
        sub.choices[name].set_defaults(parser=sub.choices[name])  # a command's usage errors name the command
    return p


def _glue_negative_box(argv: list[str]) -> list[str]:
    """ "--box -10,-5,200,300" -> "--box=-10,-5,200,300": argparse would read a value starting with "-" as an
    option, and boxes that spill past the left or top edge are common."""
    i = argv.index("--box") if "--box" in argv else -1
    if 0 <= i < len(argv) - 1 and argv[i + 1].startswith("-") and argv[i + 1][1:2].isdigit():
        argv[i : i + 2] = [f"--box={argv[i + 1]}"]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (0 ok, 1 error, 2 usage, 130 Ctrl-C). Errors are one
    line on stderr, never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    argv = _glue_negative_box(list(argv))
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except (SemhmError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (semhm doctor | head -1): end quietly
        drop_stdout()
        return 141
    except OSError as e:  # what the system refused that no command checks for (a folder it may not search)
        print(f"error: {e.filename}: {e.strerror}" if e.filename and e.strerror else f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
