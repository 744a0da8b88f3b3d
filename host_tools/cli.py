"""The `ovl` command line: a table of subcommands gathered from commands/.

Each host_tools/commands/<topic>.py module defines COMMANDS, a dict mapping
a subcommand name to (one-line help, add_arguments(parser), run(args));
the other modules there are what several commands share (fs_format).
run returns an exit status (or None for 0).  Errors reach the user as one
line on stderr and a nonzero exit, never a traceback (set OVL_DEBUG=1 to
see one).
"""

import argparse
import importlib
import os
import signal
import sys

import host_tools  # noqa: F401  (puts firmware/ on sys.path from a checkout)


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status `status`."""

    status = 1


class UsageError(CliError):
    """Options that do not go together (each alone is of its kind, which
    host_tools.argtypes checks): an argument error, exit status 2 with
    argparse's usage and "ovl CMD: error:" line."""


class Parser(argparse.ArgumentParser):
    """argparse with its error line cut: the line echoes arguments, which
    may be any length.  Subcommand parsers are of the same class."""

    LIMIT = 300

    def error(self, message):
        if len(message) > self.LIMIT:
            message = "%s... (%d characters)" % (message[:self.LIMIT],
                                                 len(message))
        super().error(message)

    path_lists = ()     # the flags add_path_list made
    # a word "-" and a digit is an argument, not an option: chown's
    # "-1:3" (-1: unchanged), as chown users type it; argparse takes
    # only a plain negative number so
    signed_words = False

    def _parse_optional(self, arg_string):
        if self.signed_words and arg_string[:1] == "-" and \
                arg_string[1:2].isdigit():
            return None
        return super()._parse_optional(arg_string)

    def add_path_list(self, flag, **kwargs):
        """`flag PATH`, repeatable, whose values are absolute paths; one
        flag may also take several (`--keep /a /b`): the absolute paths
        right after it, up to the first other word.  argparse's nargs="+"
        would take every word up to the next option, the command's own too
        (`remote --keep /a reset` lost its verb, `remote reset --keep /a
        boot` kept "boot" and reset now)."""
        from host_tools.argtypes import absolute_path
        self.path_lists += (flag,)
        return self.add_argument(flag, action="append", metavar="PATH",
                                 type=absolute_path, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        if self.path_lists:
            args = one_flag_per_path(
                sys.argv[1:] if args is None else list(args), self.path_lists)
        return super().parse_known_args(args, namespace)


def one_flag_per_path(words, flags):
    """words with `FLAG A /b /c` as `FLAG A FLAG /b FLAG /c`, for each of
    flags; nothing after "--" (plain words from there) is touched."""
    out, i = [], 0
    while i < len(words):
        word = words[i]
        out.append(word)
        i += 1
        if word == "--":
            return out + words[i:]
        if word in flags and i < len(words):
            out.append(words[i])        # its first value, whatever it is
            i += 1
            while i < len(words) and words[i].startswith("/"):
                out += [word, words[i]]
                i += 1
    return out


def command_modules():
    """The modules of host_tools/commands/ that define COMMANDS, by name."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands")
    names = sorted(f[:-3] for f in os.listdir(here)
                   if f.endswith(".py") and not f.startswith("_"))
    mods = []
    for name in names:
        mod = importlib.import_module("host_tools.commands." + name)
        if hasattr(mod, "COMMANDS"):
            mods.append(mod)
    return mods


def build_parser():
    parser = Parser(
        prog="ovl",
        description="ovl: a writable overlay for flash devices "
                    "(SquashFS firmware below, a log-structured store above)")
    from ovl import VERSION
    parser.add_argument("--version", action="version", version="ovl " + VERSION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    table = {}
    for mod in command_modules():
        for name, (help_text, add_arguments, run) in mod.COMMANDS.items():
            p = sub.add_parser(name, help=help_text, description=help_text)
            add_arguments(p)
            p.set_defaults(run=run, usage_parser=p)
            table[name] = run
    return parser


def one_line(exc):
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())


def parse(parser, argv=None):
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse fills a command's ARGS list before it reads the options
        # that follow (`remote ls -l /etc`): later plain words belong to it
        if isinstance(getattr(args, "args", None), list) and \
                not [w for w in extra if w.startswith("-")]:
            args.args += extra
        else:
            parser.error("unrecognized arguments: %s" % " ".join(extra))
    return args


def main(argv=None):
    parser = build_parser()
    args = parse(parser, argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    debug = bool(os.environ.get("OVL_DEBUG"))
    try:
        status = args.run(args)
    except KeyboardInterrupt as exc:     # Ctrl-C, or outputs.Terminated
        print("ovl: interrupted", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)
    except BrokenPipeError:
        return 0
    except UsageError as exc:
        args.usage_parser.error(one_line(exc))      # exits 2
    except Exception as exc:  # every failure becomes one line, never a trace
        if debug:
            raise
        msg = one_line(exc)
        # Expected failure families speak for themselves; anything else is a
        # bug, and its class name helps the report.
        if not isinstance(exc, (CliError, OSError, ValueError)):
            msg = "internal error: %s (%s); rerun with OVL_DEBUG=1 for a trace" \
                % (msg, exc.__class__.__name__)
        print("ovl: error: %s" % msg, file=sys.stderr)
        return exc.status if isinstance(exc, CliError) else 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
