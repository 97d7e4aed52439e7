"""Installs from one spec: a kickstart per machine, and the installer's kernel arguments.

Every machine's kickstart comes from the same baseline: the spec with the
machine's hostname and address put in, rendered and validated like any other.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .errors import BuilderError
from .spec import Machine, Pxe, Spec

# Arguments builder sets itself; a user's install.kernel_args may not fight over them.
MANAGED_ARGS = ("inst.ks", "inst.repo", "inst.stage2", "inst.ks.sendmac", "ip", "vlan", "nameserver",
                "net.ifnames", "biosdevname", "initrd", "BOOT_IMAGE")
INSTALLER_CLASSIC_NAMES = ("net.ifnames=0", "biosdevname=0")


def mac_key(mac: str) -> str:
    """The form used in file names: lower case, dashes (like pxelinux's 01-aa-bb-...)."""
    return mac.lower().replace(":", "-")


def ks_name(machine: Machine | None) -> str:
    """The kickstart's path below the published tree."""
    return f"ks/{mac_key(machine.mac)}.cfg" if machine else "ks/default.cfg"


def device_name(machine: Machine) -> str:
    return f"{machine.interface}.{machine.vlan}" if machine.vlan else machine.interface


def machine_spec(spec: Spec, machine: Machine) -> Spec:
    """The spec as installed on `machine`: its hostname, and its address on its device.

    The device is updated where the spec's network already defines it, added otherwise
    (a VLAN also gets its parent, without an address, if the spec has none).
    """
    data = spec.model_dump(mode="json")
    data["hostname"] = machine.hostname
    data["install"] = None
    if machine.address:
        ip = {"bootproto": "static", "address": machine.address, "gateway": machine.gateway,
              "nameservers": list(machine.nameservers)}
        net = data["network"]
        name = device_name(machine)
        existing = [d for d in net["interfaces"] + net["bridges"] if d["name"] == name]
        existing += [v for v in net["vlans"] if f"{v['parent']}.{v['id']}" == name]
        if existing:
            existing[0].update(ip)
        elif machine.vlan:
            if not any(e["name"] == machine.interface for e in net["interfaces"]):
                net["interfaces"].append({"name": machine.interface, "bootproto": "none"})
            net["vlans"].append({"parent": machine.interface, "id": machine.vlan, **ip})
        else:
            net["interfaces"].append({"name": machine.interface, **ip})
    return Spec.model_validate(data)


def inst_repo(spec: Spec) -> str | None:
    """inst.repo: install.pxe.inst_repo, else the kickstart's install tree URL."""
    pxe = spec.install.pxe if spec.install else None
    if pxe and pxe.inst_repo:
        return pxe.inst_repo
    source = spec.kickstart_settings.install_source
    return None if source == "cdrom" else source


class NotConfigured(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class Entry:
    """One boot entry: which machine (None: the default), its kickstart, its kernel arguments."""

    label: str
    machine: Machine | None
    ks: str                  # path below the tree, like ks/default.cfg
    args: tuple[str, ...]    # kernel arguments, without inst.ks=


def installer_args(spec: Spec, machine: Machine | None) -> tuple[str, ...]:
    """The installer's kernel arguments for one machine (None: any machine), inst.ks= aside."""
    args: list[str] = []
    repo = inst_repo(spec)
    if repo:
        args.append(f"inst.repo={repo}")
    if spec.network.classic_names:
        args += INSTALLER_CLASSIC_NAMES
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


def render_kickstarts(spec: Spec) -> dict[str, bytes]:
    """ks/default.cfg and ks/<mac>.cfg per machine, each validated by pykickstart."""
    from .build import spec_sha256
    from .kickstart import render_kickstart

    out = {ks_name(None): render_kickstart(spec, spec_sha256(spec)).encode()}
    for machine in spec.install.machines if spec.install else []:
        derived = machine_spec(spec, machine)
        out[ks_name(machine)] = render_kickstart(derived, spec_sha256(derived)).encode()
    return out
