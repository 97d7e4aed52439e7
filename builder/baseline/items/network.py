"""The network item: NetworkManager keyfiles for every interface, VLAN and bridge of the spec's `network` (EL).

pykickstart cannot express two VLANs on one parent device (its duplicate check compares --device only,
pykickstart#51), so the full layout is written as keyfiles; the kickstart's network lines cover install time."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..paths import NM_KEYFILE_DIR
from ..results import Check, Result, failed, not_applicable, passed, same_file
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "network"


def nm_keyfiles(b: BaselineView) -> tuple[tuple[str, str], ...]:
    """NetworkManager keyfiles (path, content) for every configured interface (EL)."""
    if not b.facts.baseline.network_keyfiles:
        return ()
    net = b.spec.network
    port_of = {port: bridge.name for bridge in net.bridges for port in bridge.ports}
    out = []
    for dev, kind in ([(e, "ethernet") for e in net.interfaces] + [(v, "vlan") for v in net.vlans]
                      + [(br, "bridge") for br in net.bridges]):
        out.append((f"{NM_KEYFILE_DIR}{dev.name}.nmconnection",
                    _keyfile(dev, kind, port_of.get(dev.name))))
    return tuple(out)


def _keyfile(dev, kind: str, master: str | None) -> str:
    lines = ["[connection]", f"id={dev.name}", f"uuid={uuid.uuid5(uuid.NAMESPACE_URL, 'builder:' + dev.name)}",
             f"type={kind}", f"interface-name={dev.name}", "autoconnect=true"]
    if master:
        lines += [f"master={master}", "slave-type=bridge"]
    if kind == "ethernet" and dev.mtu:
        lines += ["", "[ethernet]", f"mtu={dev.mtu}"]
    if kind == "vlan":
        lines += ["", "[vlan]", f"parent={dev.parent}", f"id={dev.id}"]
        if dev.mtu:
            lines.append(f"mtu={dev.mtu}")
    if kind == "bridge":
        lines += ["", "[bridge]", f"stp={'true' if dev.stp else 'false'}"]
    if not master:
        proto = str(dev.bootproto)
        method = {"dhcp": "auto", "static": "manual", "none": "disabled"}[proto]
        lines += ["", "[ipv4]", f"method={method}"]
        if proto == "static":
            lines.append(f"address1={dev.address}" + (f",{dev.gateway}" if dev.gateway else ""))
        if dev.nameservers:
            lines.append("dns=" + "".join(f"{ns};" for ns in dev.nameservers))
        lines += ["", "[ipv6]", f"method={'auto' if proto == 'dhcp' else 'disabled'}"]
    return "\n".join(lines) + "\n"


def step(b: BaselineView) -> list[str]:
    keyfiles = nm_keyfiles(b)
    lines = [put_generated(path, content, "0600") for path, content in keyfiles]
    if keyfiles and b.info.major == 8:
        # EL 8's Anaconda writes ifcfg files; the keyfiles replace them.
        for path, _ in keyfiles:
            device = path.rsplit("/", 1)[1].removesuffix(".nmconnection")
            lines.append(f"rm -f -- {quote('/etc/sysconfig/network-scripts/ifcfg-' + device)}")
    return lines


def check(c: Check) -> Iterator[Result]:
    keyfiles = nm_keyfiles(c.baseline)
    if not keyfiles:
        reason = ("no interfaces in the spec" if c.baseline.facts.baseline.network_keyfiles
                  else f"{c.spec.target} takes its network from DHCP/cloud-init")
        yield not_applicable(NAME, reason)
    for path, content in keyfiles:
        yield same_file(c, NAME, path, content)


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    if not b.spec.network.classic_names:
        yield not_applicable(NAME, "classic_names is off: interface names are the kernel's")
        return
    link = guest.shell("ip -o link show eth0")
    yield passed(NAME, "eth0 exists") if link.code == 0 else failed(NAME, "no eth0 in the guest")
    address = guest.shell("ip -o -4 addr show dev eth0").out.split()
    yield (passed(NAME, f"eth0 has {address[3]} (DHCP)") if len(address) > 3
           else failed(NAME, "eth0 has no IPv4 address"))


UNIT = register(Unit(
    NAME, "`network`", (Step("network", step),),
    writes="NetworkManager keyfiles for every interface, VLAN and bridge (EL)",
    check=check, checked="file content; booted: eth0 and its address",
    booted=booted, kickstart="`network` line per ethernet device",
    not_applicable=in_container("a container's network is set up by its runtime"),
    owns=(NM_KEYFILE_DIR,),
))
