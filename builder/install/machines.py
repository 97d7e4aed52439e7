"""Installs from one spec: a kickstart per machine, and the installer's kernel arguments.

Every machine's kickstart comes from the same baseline: the spec with the
machine's hostname and address put in, rendered and validated like any other.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import BuilderError
from ..spec import CLASSIC_NAMES_ARGS, Machine, Pxe, Spec, device_name, inst_repo, machine_spec, spec_sha256
from .kickstart import render_kickstart
from .pxe_state import new_token


def mac_key(mac: str) -> str:
    """The form used in file names: lower case, dashes (like pxelinux's 01-aa-bb-...)."""
    return mac.lower().replace(":", "-")


# `builder serve` takes a machine's "installed" report at <server_url>/done/<mac>, and from then on
# its PXE entries boot the local disk (docs/pxe-iso.md, like Cobbler's pxe_just_once).
DONE_PATH = "done"


def done_url(pxe: Pxe, machine: Machine) -> str:
    """Where the machine's kickstart reports that its install is complete."""
    return f"{pxe.server_url.rstrip('/')}/{DONE_PATH}/{mac_key(machine.mac)}"


def ks_name(machine: Machine | None) -> str:
    """The kickstart's path below the published tree."""
    return f"ks/{mac_key(machine.mac)}.cfg" if machine else "ks/default.cfg"


class NotConfigured(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class Entry:
    """One boot entry: which machine (None: the default), its kickstart, its kernel arguments."""

    label: str
    machine: Machine | None
    ks: str                  # path below the tree, like ks/default.cfg
    args: tuple[str, ...]    # kernel arguments, without inst.ks=

    @property
    def mac(self) -> str:
        """The MAC of the machine a per-machine entry is for (the default entry is for none)."""
        if self.machine is None:
            raise BuilderError(f"{self.label}: the default boot entry has no machine, so no MAC")
        return self.machine.mac


def installer_args(spec: Spec, machine: Machine | None) -> tuple[str, ...]:
    """The installer's kernel arguments for one machine (None: any machine), inst.ks= aside."""
    args: list[str] = []
    repo = inst_repo(spec)
    if repo:
        args.append(f"inst.repo={repo}")
    if spec.network.classic_names:
        args += CLASSIC_NAMES_ARGS
    if machine is None:
        args.append("inst.ks.sendmac")  # lets `builder serve` hand out the machine's own kickstart
    elif machine.address:
        iface = ipaddress.ip_interface(machine.address)
        device = device_name(machine)
        if machine.vlan:
            args.append(f"vlan={device}:{machine.interface}")
        args.append(f"ip={iface.ip}::{machine.gateway or ''}:{iface.netmask}:{machine.hostname}:{device}:none")
        args += [f"nameserver={ns}" for ns in machine.nameservers]
    if spec.install:
        args += spec.install.kernel_args
    return tuple(args)


def entries(spec: Spec) -> list[Entry]:
    """The default entry, then one per machine."""
    machines = spec.install.machines if spec.install else []
    out = [Entry("default", None, ks_name(None), installer_args(spec, None))]
    out += [Entry(m.hostname, m, ks_name(m), installer_args(spec, m)) for m in machines]
    return out


def pxe_settings(spec: Spec, spec_file: object) -> Pxe:
    if spec.install is None or spec.install.pxe is None:
        raise NotConfigured(f"{spec_file}: the spec has no install.pxe section",
                           hint="add install: {pxe: {server_url: http://BOOT-SERVER:PORT}} (where the tree will be served)")
    return spec.install.pxe


def render_kickstarts(spec: Spec, tokens: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """ks/default.cfg and ks/<mac>.cfg per machine, each validated by pykickstart.

    A machine's own kickstart ends by reporting to `builder serve` that it is installed (with install.pxe), with
    its report token (`tokens`, by MAC key; new ones when not given) as the proof that the report comes from its
    own kickstart.
    """
    tokens = tokens or {mac_key(m.mac): new_token() for m in (spec.install.machines if spec.install else [])}
    out = {ks_name(None): render_kickstart(spec, spec_sha256(spec)).encode()}
    pxe = spec.install.pxe if spec.install else None
    for machine in spec.install.machines if spec.install else []:
        derived = machine_spec(spec, machine)
        report = (done_url(pxe, machine), tokens[mac_key(machine.mac)]) if pxe else None
        out[ks_name(machine)] = render_kickstart(derived, spec_sha256(derived), report=report).encode()
    return out
