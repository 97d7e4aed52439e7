"""Command line: builder validate | schema | build | verify | baseline."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import BuilderError, SpecError

# Kept here rather than imported from .build so that `--help` does not load pykickstart.
ARTIFACT_KINDS = ["kickstart", "qcow2"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BuilderError as exc:
        if args.debug:
            raise
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
    parser = argparse.ArgumentParser(prog="builder", description="One spec, one server baseline: kickstart, qcow2, container.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check specs; report every problem as file:line: field: message")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the spec's JSON Schema (for editor completion)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("build", help="build artifacts into OUT/<name>/")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--only", action="append", choices=ARTIFACT_KINDS, help="build only this artifact (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print what each image build would run, and run nothing")
    p.add_argument("--element", action="append", default=[], metavar="NAME", help="qcow2: one more DIB element (repeatable)")
    p.add_argument("--elements-path", action="append", default=[], type=Path, metavar="DIR",
                   help="qcow2: a directory of DIB elements searched before ours (repeatable)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("verify", help="check the baseline in a built system")
    p.add_argument("spec", metavar="SPEC")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--rootfs", type=Path, metavar="DIR", help="a root file system directory (read only)")
    what.add_argument("--qcow2", type=Path, metavar="FILE", help="a qcow2 image: checked mounted read-only, then booted in QEMU")
    p.add_argument("--no-boot", action="store_true", help="--qcow2: the offline checks only")
    p.add_argument("--console", type=Path, metavar="FILE", help="--qcow2: keep the booted guest's serial console in FILE")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("publish", help="upload a built artifact (recorded in OUT/<name>/manifest.json)")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--to", required=True, choices=sorted(PUBLISHERS), help="where to publish")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="the --out directory of the build")
    p.add_argument("--cloud", metavar="NAME", help="glance: the cloud in clouds.yaml (default: OS_CLOUD)")
    p.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                   help="glance: how long an upload may take to become active before it is deleted (default 1800)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("baseline", help="print the baseline script that every artifact runs")
    p.add_argument("spec", metavar="SPEC")
    p.set_defaults(func=cmd_baseline)
    return parser


def _print_warnings(items) -> None:
    for item in items:
        for warning in item.warnings:
            print(warning, file=sys.stderr)


def cmd_validate(args) -> int:
    from .build import load_all

    items = load_all(args.specs)
    _print_warnings(items)
    for item in items:
        print(f"{item.path}: ok ({item.spec.target})")
    return 0


def cmd_schema(args) -> int:
    from .spec import json_schema

    json.dump(json_schema(), sys.stdout, indent=2)
    print()
    return 0


def cmd_build(args) -> int:
    from .build import BuildOptions, build, default_artifacts, load_all, supported_artifacts

    items = load_all(args.specs)
    _print_warnings(items)
    for item in items:
        if not args.only and not default_artifacts(item.spec):
            kinds = ", ".join(supported_artifacts(item.spec)) or "none yet"
            print(f"{item.path}: nothing to build by default for {item.spec.target}: ask with --only ({kinds})", file=sys.stderr)
    for manifest in build(items, args.out, args.only, BuildOptions(dry_run=args.dry_run, extra_elements=tuple(args.element),
                                                                 elements_path=tuple(args.elements_path))):
        print(f"wrote {manifest.parent}")
    return 0


def cmd_verify(args) -> int:
    from .baseline import Baseline
    from .baseline.verify import Status, verify_rootfs
    from .build import load_all

    (item,) = load_all([args.spec])
    if args.qcow2:
        from .qcow2.verify import verify_qcow2

        kind, target = "qcow2", args.qcow2
        results = verify_qcow2(Baseline(item.spec), args.qcow2, boot=not args.no_boot, console=args.console)
    else:
        if not args.rootfs.is_dir():
            raise BuilderError(f"{args.rootfs}: not a directory")
        kind, target = "rootfs", args.rootfs
        results = verify_rootfs(Baseline(item.spec), args.rootfs)
    failed = sum(r.status is Status.FAIL for r in results)
    if args.json:
        json.dump({"spec": str(item.path), kind: str(target), "failed": failed,
                   "results": [{"item": r.item, "status": r.status.value, "detail": r.detail} for r in results]},
                  sys.stdout, indent=2)
        print()
        return 1 if failed else 0
    width = max(len(r.item) for r in results)
    for r in results:
        print(f"{r.status.value:<5} {r.item:<{width}}  {r.detail}")
    print(f"{len(results)} checks: {failed} failed, {sum(r.status is Status.NA for r in results)} not applicable")
    return 1 if failed else 0


# publish --to X: "module:function", fn(item, OUT/<name>, args) -> dict of what was recorded in manifest.json.
PUBLISHERS = {
    "glance": "builder.qcow2.glance:publish_glance_cli",
}


def cmd_publish(args) -> int:
    import importlib

    from .build import load_all

    (item,) = load_all([args.spec])
    module, _, function = PUBLISHERS[args.to].partition(":")
    info = getattr(importlib.import_module(module), function)(item, args.out / item.spec.name, args)
    print(json.dumps(info, sort_keys=True))
    return 0


def cmd_baseline(args) -> int:
    from .baseline import Baseline, render_script
    from .build import load_all

    (item,) = load_all([args.spec])
    sys.stdout.write(render_script(Baseline(item.spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
