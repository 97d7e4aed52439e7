"""The kickstart artifact: render from templates, then prove it with pykickstart."""
from __future__ import annotations

import ipaddress
import warnings
from shlex import quote
from typing import TYPE_CHECKING

import jinja2
from pykickstart.errors import KickstartParseWarning
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion

from .. import __version__, resources
from ..baseline import BASELINE_VERSION, Baseline, render_script
from ..baseline.repos import repo_id
from ..errors import BuilderError
from ..spec import BootProto, Spec
from ..spec.checks import DISK_HINT, NO_DISK

if TYPE_CHECKING:
    from ..bootstrap.plan import Plan

TEMPLATES = resources.directory("kickstarts")
SECTIONS = ("%pre", "%post", "%packages", "%end", "%include", "%ksappend", "%onerror", "%traceback", "%addon", "%anaconda", "%pre-install")


class KickstartInvalid(BuilderError):
    pass


class NoDiskNamed(BuilderError):
    exit_code = 2


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = lambda value: quote(str(value))
    return env


def network_lines(spec: Spec) -> list[str]:
    """Install-time `network` lines: one per ethernet device (see Baseline.nm_keyfiles)."""
    lines = []
    for eth in spec.network.interfaces:
        args = [f"--device={quote(eth.name)}"]
        if eth.bootproto is BootProto.NONE:
            args += ["--noipv4", "--noipv6"]
        else:
            args.append(f"--bootproto={eth.bootproto}")
        if eth.bootproto is BootProto.STATIC:
            if eth.address is None:  # the spec's checks refuse it first
                raise BuilderError(f"{spec.name}: the static interface {eth.name} has no address")
            iface = ipaddress.ip_interface(eth.address)
            args += [f"--ip={quote(str(iface.ip))}", f"--netmask={quote(str(iface.netmask))}"]
            if eth.gateway:
                args.append(f"--gateway={quote(eth.gateway)}")
        if eth.nameservers:
            args.append("--nameserver=" + quote(",".join(eth.nameservers)))
        if eth.mtu:
            args.append(f"--mtu={eth.mtu}")
        args += ["--onboot=yes", "--activate" if eth.bootproto is not BootProto.NONE else "--no-activate"]
        lines.append("network " + " ".join(args))
    if spec.hostname:
        if lines:
            lines[0] += f" --hostname={quote(spec.hostname)}"
        else:
            lines.append(f"network --hostname={quote(spec.hostname)}")
    if spec.network.vlans or spec.network.bridges:
        lines.append("# VLANs and bridges: NetworkManager keyfiles written by %post "
                     "(kickstart cannot give one device two VLANs, pykickstart#51)")
    return lines


def install_repos(spec: Spec) -> list[tuple[str, str]]:
    """(repo id, baseurl) of the installer's `repo` lines: the spec's repos under the ids the installed system gives
    them, but the one the `url` command already installs from (the installer would read that tree twice)."""
    source = spec.kickstart_settings.install_source
    return [(repo_id(repo), repo.baseurl) for repo in spec.repos if repo.baseurl.rstrip("/") != source.rstrip("/")]


def kickstart_for(plan: Plan) -> str:
    """The spec's kickstart, from its plan's baseline (the installed system's)."""
    return render_baseline(plan.baseline, plan.sha256)


def render_kickstart(spec: Spec, spec_sha256: str, report: tuple[str, str] | None = None) -> str:
    """The kickstart of a spec that has no plan (a machine's own: builder.install.machines); with `report` (URL, token),
    a last %post reports the install as complete there, with the machine's token."""
    return render_baseline(Baseline(spec), spec_sha256, report)


def render_baseline(b: Baseline, spec_sha256: str, report: tuple[str, str] | None = None) -> str:
    """The kickstart that installs `b`'s spec with its baseline."""
    spec = b.spec
    info = spec.target.info
    if info.kickstart_version is None:
        raise BuilderError(f"{spec.target} has no kickstart: it is built as images only",
                           hint="build it with --only qcow2 or --only container, or target an EL release")
    if spec.kickstart_settings.disk.device is None:
        raise NoDiskNamed(f"{spec.name}: {NO_DISK}", hint=DISK_HINT)  # the kickstart kind refuses such a spec first
    if b.selinux is None:  # every target with a kickstart is EL, which has a mode: the check above refuses the others
        raise BuilderError(f"{spec.target} has no SELinux mode: it is not an EL target")
    script = render_script(b)
    _refuse_section_lines(script)
    lang = spec.locale.split(".")[0]
    context = dict(
        spec=spec,
        builder_version=__version__,
        baseline_version=BASELINE_VERSION,
        spec_sha256=spec_sha256,
        source=spec.kickstart_settings.install_source,
        repos=install_repos(spec),
        disk=spec.kickstart_settings.disk,
        network_lines=network_lines(spec),
        firewall_ports=[p.replace("/", ":") for p in b.firewall_ports],
        firewall_removed=b.firewall_services_removed,
        selinux=b.selinux.value,
        kernel_args=b.kernel_args,
        user_groups={u.name: b.user_groups(u) for u in spec.users},
        packages=b.packages,
        groups=b.groups,
        environment=b.environment,
        inst_langs=None if lang in ("C", "POSIX") else lang,
        script=script.rstrip("\n"),
        done_url=report[0] if report else None,
        done_token=report[1] if report else None,
    )
    text = _environment().get_template(f"el{info.major}.ks.j2").render(**context)
    problems = validate_kickstart(text, info.kickstart_version)
    if problems:
        detail = "\n".join(f"  ks.cfg line {line}: {message}" for line, message in problems)
        raise KickstartInvalid(f"the generated kickstart does not pass pykickstart ({info.kickstart_version}):\n{detail}",
                               hint="this is a builder bug: please report it with the spec")
    return text


def _refuse_section_lines(script: str) -> None:
    """A %post body line whose first word is a section keyword would end or split the section."""
    for number, line in enumerate(script.splitlines(), 1):
        words = line.split()
        if words and words[0].startswith("%"):
            raise KickstartInvalid(f"baseline script line {number} would start a kickstart section")


class _Collector(KickstartParser):
    """ksvalidator's rules (warnings are errors), collecting (line, message) pairs."""

    def __init__(self, handler):
        super().__init__(handler, followIncludes=False, errorsAreFatal=False)
        self.problems: list[tuple[int, str]] = []
        self._physical_line = 0

    def _stateMachine(self, lineIter):
        parser = self

        class Counting:  # pykickstart's put() pushes a line back: keep the count right
            def __iter__(self):
                return self

            def __next__(self):
                line = next(lineIter)
                parser._physical_line += 1
                return line

            def put(self, line):
                parser._physical_line -= 1
                lineIter.put(line)

        return super()._stateMachine(Counting())

    def _tryFunc(self, fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - warnings raised as errors land here too
            self.errorsCount += 1
            self.record(exc)

    def record(self, exc: BaseException) -> None:
        line = getattr(exc, "lineno", None) or self._physical_line
        message = getattr(exc, "message", None) or str(exc)
        self.problems.append((line, " ".join(str(message).split())))


def validate_kickstart(text: str, version: str) -> list[tuple[int, str]]:
    """Parse `text` as pykickstart `version` (e.g. "RHEL9"); [] when valid."""
    parser = _Collector(makeVersion(version))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=KickstartParseWarning)
        try:
            parser.readKickstartFromString(text)
        except Exception as exc:  # noqa: BLE001 - missing %end, bad quoting: fatal in pykickstart
            parser.record(exc)
    return parser.problems
