"""Command line: builder validate | schema | build | verify | publish | serve | baseline."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
import traceback
from pathlib import Path

from . import __version__, host, publishers
from .errors import BuilderError, SpecError, UsageError, warn
from .kinds import KINDS, BuildOptions, all_options, made_without_only
from .publishers import OUT


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    host.set_verbosity(quiet=args.quiet, verbose=args.verbose)
    try:
        return args.func(args)
    except BuilderError as exc:
        # --debug shows where a failure came from; a spec or usage error (exit 2) is the input's, not the code's.
        if args.debug and exc.exit_code != 2:
            traceback.print_exc()
        if exc.args[0]:  # a PublishFailed whose publisher said it all on its lines has nothing to add
            print(f"error: {exc}" if not isinstance(exc, SpecError) else str(exc), file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `builder ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 141
    except OSError as exc:
        if args.debug:
            raise
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="builder", description="One spec, one server baseline: kickstart, qcow2, container.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a failure (not of a spec or usage error, which exits 2 as usual)")
    parser.set_defaults(quiet=False, verbose=False)
    # The subcommands that report progress take --quiet; build, whose progress sums up details, also --verbose.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="no progress lines and no spec warnings on stderr (`builder validate` shows the warnings); "
                            "errors and results are still printed")
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true",
                         help="list the details progress sums up (each baseline item that does not apply, and why)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, examples: list[str],
                parents: tuple[argparse.ArgumentParser, ...] = ()) -> argparse.ArgumentParser:
        epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) + "\n\n" + EXIT_CODES
        return sub.add_parser(name, help=summary, description=textwrap.fill(description, 79), epilog=epilog,
                              parents=list(parents), formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("validate", "check specs; report every problem as file:line: field: message",
                "Check specs: every problem of every file is reported as file:line: field: message, and nothing is written. "
                "The same checks run before `build` and `publish`.",
                ["builder validate examples/*.yaml"])
    p.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP + " (several: each is checked)")
    p.set_defaults(func=cmd_validate)

    p = command("schema", "print the spec's JSON Schema (for editor completion)",
                "Print the JSON Schema of a spec on stdout: every field with its type and description, for an editor's "
                "completion and checks (the YAML language server reads it).",
                ["builder schema > spec.schema.json"])
    p.set_defaults(func=cmd_schema)

    p = command("build", "build artifacts into OUT/<name>/",
                "Build each spec's artifacts into OUT/<name>/, recorded in OUT/<name>/manifest.json; "
                f"{made_without_only()}. A build ends with a table of what it wrote (stdout).",
                ["builder build examples/compute-node-cs9.yaml --out out",
                 "builder build examples/debian12-node.yaml --only container --out out",
                 "builder build examples/*.yaml --only qcow2 --dry-run"], (quiet, verbose))
    p.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP + " (several: all are checked before anything is written)")
    p.add_argument(OUT.flag, default=OUT.default, help=OUT.help, **OUT.argparse)
    p.add_argument("--only", action="append", choices=[str(k.name) for k in KINDS], metavar="KIND",
                   help="build only this artifact kind (repeatable): " + "; ".join(f"{k.name}: {k.makes}" for k in KINDS))
    p.add_argument("--dry-run", action="store_true", help="print what each artifact would write and run, and write nothing")
    p.add_argument("--jobs", type=job_count, metavar="N",
                   help="build up to N specs at once (default 1); a failed spec does not stop the others, and a summary "
                        "on stderr says what became of each")
    for option, kinds in all_options():
        p.add_argument(option.flag, help=f"{', '.join(kinds)}: {option.help}", **option.argparse)
    p.set_defaults(func=cmd_build)

    p = command("verify", "check the baseline in a built system",
                "Check every baseline item of the spec in a built system: a root directory, a container image or a qcow2 "
                "(mounted read-only, then booted in QEMU). One line per item: pass, fail or n/a; exit 1 if any failed.",
                ["builder verify examples/debian12-node.yaml --rootfs /srv/tree",
                 "builder verify examples/debian12-node.yaml --image debian12-node:latest",
                 "builder verify examples/debian12-node.yaml --qcow2 out/debian12-node/debian12-node.qcow2 --no-boot"], (quiet,))
    p.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--rootfs", type=Path, metavar="DIR", help="a root file system directory (read only)")
    what.add_argument("--image", metavar="REF", help="a container image in the Docker engine (checked offline, as a container)")
    what.add_argument("--qcow2", type=Path, metavar="FILE", help="a qcow2 image: checked mounted read-only, then booted in QEMU")
    p.add_argument("--no-boot", action="store_true", help="--qcow2: the offline checks only")
    p.add_argument("--console", type=Path, metavar="FILE", help="--qcow2: keep the booted guest's serial console in FILE")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_verify)

    p = command("publish", publishers.summary(), publishers.description(),
                ["builder publish examples/pxe-rack-rocky9.yaml --to pxe --root /srv/tftp --with-pxelinux",
                 "builder publish examples/debian12-node.yaml --to registry --registry 127.0.0.1:5000/debian12-node",
                 "builder publish examples/debian12-node.yaml --to glance --out out --cloud region1"], (quiet,))
    p.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    p.add_argument("--to", required=True, choices=sorted(publishers.BY_NAME), help="where to")
    for option, targets in publishers.all_options():
        p.add_argument(option.flag, help=f"{', '.join(sorted(targets))}: {option.help}", **option.argparse)
    p.set_defaults(func=cmd_publish)

    p = command("serve", "publish the PXE tree and serve it over HTTP, each machine's kickstart chosen by MAC",
                "Publish the spec's PXE tree (as `publish --to pxe`) and serve it over HTTP until interrupted: each "
                "machine listed in install.machines gets its own kickstart by MAC, and its report at the end of the "
                "install switches it to local boot.",
                ["builder serve examples/pxe-rack-rocky9.yaml --root /srv/tftp --bind 10.0.0.1 --port 8080"], (quiet,))
    p.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    p.add_argument("--root", type=Path, metavar="DIR", help="publish into DIR and serve it (default: a temporary directory)")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDR", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, metavar="N", help="port (default 8080; 0 picks a free one)")
    p.set_defaults(func=cmd_serve)

    p = command("baseline", "print the baseline script that every artifact runs",
                "Print the spec's baseline script on stdout: the idempotent shell script every artifact runs (the "
                "kickstart's %post, the DIB element, the container tree), for review.",
                ["builder baseline examples/compute-node-cs9.yaml | less"])
    p.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    p.set_defaults(func=cmd_baseline)
    return parser


# One table of exit codes (the README repeats it).
EXIT_CODES = """exit codes:
  0    done (a dry run: the plan printed)
  1    the work failed: a command, the network, a registry or cloud, a failed verify check
  2    a usage or spec error: bad options, an invalid spec, an artifact or option that does not apply; nothing done
  130  interrupted (Ctrl-C, SIGTERM); what was started is cleaned up"""


SPEC_HELP = "a spec: a YAML file with version: 1 (see examples/ and `builder schema`)"


def load_specs(paths):
    """Every spec loaded and checked by every rule, the ones that read the baseline's item table included."""
    from . import baseline  # noqa: F401 - registers those rules (builder/baseline/spec_rules.py)
    from .spec import load_all

    return load_all(paths)


def _print_warnings(items, always: bool = False) -> None:
    """Each spec's warnings, each once (--quiet: none, except for `validate`, whose report they are)."""
    for item in items:
        for warning in dict.fromkeys(str(w) for w in item.warnings):
            print(warning, file=sys.stderr) if always else warn(warning)


def cmd_validate(args) -> int:
    items = load_specs(args.specs)
    _print_warnings(items, always=True)
    for item in items:
        print(f"{item.path}: ok ({item.spec.target})")
    return 0


def cmd_schema(args) -> int:
    from .spec import json_schema

    json.dump(json_schema(), sys.stdout, indent=2)
    print()
    return 0


def job_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of jobs (a whole number, 1 or more)")
    return int(text)


def cmd_build(args) -> int:
    from .build import build, written_table

    if args.jobs is not None and args.dry_run:
        raise UsageError("--jobs is for a build, and a dry run builds nothing", hint="leave out --jobs or --dry-run")
    options = BuildOptions.from_args(args)
    items = load_specs(args.specs)
    _print_warnings(items)
    outcomes = build(items, args.out, args.only, options)
    for line in written_table(outcomes):
        print(line)
    return max((outcome.exit_code for outcome in outcomes), default=0)


def cmd_verify(args) -> int:
    from .baseline import Baseline
    from .baseline.verify import Status, verify_rootfs

    if (args.no_boot or args.console) and not args.qcow2:
        raise UsageError("--no-boot and --console are for --qcow2 (only a qcow2 is booted)")
    (item,) = load_specs([args.spec])
    if args.image:
        from .container.verify import verify_image

        results, target = verify_image(item.spec, args.image), {"image": args.image}
    elif args.qcow2:
        from .qcow2.verify import verify_qcow2

        results = verify_qcow2(Baseline(item.spec), args.qcow2, boot=not args.no_boot, console=args.console)
        target = {"qcow2": str(args.qcow2)}
    else:
        if not args.rootfs.is_dir():
            raise UsageError(f"--rootfs {args.rootfs}: not a directory", hint="give the root directory of a built system")
        results, target = verify_rootfs(Baseline(item.spec), args.rootfs, current=True), {"rootfs": str(args.rootfs)}
    failed = sum(r.status is Status.FAIL for r in results)
    if args.json:
        json.dump({"spec": str(item.path), **target, "failed": failed,
                   "results": [{"item": r.item, "status": r.status.value, "detail": r.detail} for r in results]},
                  sys.stdout, indent=2)
        print()
        return 1 if failed else 0
    width = max(len(r.item) for r in results)
    for r in results:
        print(f"{r.status.value:<5} {r.item:<{width}}  {r.detail}")
    print(f"{len(results)} checks: {failed} failed, {sum(r.status is Status.NA for r in results)} not applicable")
    return 1 if failed else 0


def cmd_publish(args) -> int:
    if refusal := publishers.refuse_foreign_options(args):
        raise UsageError(refusal)
    publishers.fill_defaults(args)
    (item,) = load_specs([args.spec])
    _print_warnings([item])
    publishers.publisher(args.to).publish(item, args)
    return 0


def cmd_serve(args) -> int:
    from .install.serve import serve_spec

    (item,) = load_specs([args.spec])
    _print_warnings([item])
    serve_spec(item.spec, item.path, args.root, args.bind, args.port)
    return 0


def cmd_baseline(args) -> int:
    from .baseline import Baseline, render_script

    (item,) = load_specs([args.spec])
    sys.stdout.write(render_script(Baseline(item.spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
