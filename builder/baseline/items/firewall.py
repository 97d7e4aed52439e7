"""The firewall item: firewalld with the spec's `firewall` ports and services open, the sshd port too, and the rest of
its default zone closed."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ...spec import BootProto
from ..results import Check, Result, enabled_units, failed, passed
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "firewall"


def firewall_ports(b: BaselineView) -> tuple[str, ...]:
    ports = list(b.spec.firewall.ports)
    if b.spec.sshd.enabled and b.spec.firewall.enabled:
        ports.append(f"{b.spec.sshd.port}/tcp")
    return tuple(dict.fromkeys(ports))


def firewall_services_removed(b: BaselineView) -> tuple[str, ...]:
    """Services firewalld's default zone allows that the spec does not ask for (docs/baseline.md).

    ssh: the sshd port is opened as a port, so the ssh service would only keep 22/tcp open
    after sshd moved off it; cockpit (EL's zone): nothing listens unless asked for;
    dhcpv6-client: only where an interface takes its address from DHCP (IPv6 auto).
    """
    if not b.spec.firewall.enabled:
        return ()
    net = b.spec.network
    devices = [*net.interfaces, *net.vlans, *net.bridges]
    dhcp = not devices or any(d.bootproto is BootProto.DHCP for d in devices)  # no devices: the installer's DHCP
    removed = ["ssh", "cockpit"] + ([] if dhcp else ["dhcpv6-client"])
    return tuple(s for s in removed if s not in b.spec.firewall.services)


def packages(b: BaselineView) -> list[str]:
    return ["firewalld"] if b.spec.firewall.enabled else []


def step(b: BaselineView) -> list[str]:
    if not b.spec.firewall.enabled:
        return []
    lines = []
    for port in firewall_ports(b):
        lines.append(f"firewall-offline-cmd -q --query-port={quote(port)} || firewall-offline-cmd --add-port={quote(port)}")
    for service in b.spec.firewall.services:
        lines.append(f"firewall-offline-cmd -q --query-service={quote(service)} || firewall-offline-cmd --add-service={quote(service)}")
    for service in firewall_services_removed(b):
        lines.append(f"if firewall-offline-cmd -q --query-service={quote(service)}; then firewall-offline-cmd --remove-service={quote(service)}; fi")
    return lines


def check(c: Check) -> Iterator[Result]:
    if not c.spec.firewall.enabled:
        unit = "firewalld.service"
        yield (failed(NAME, f"the firewall is disabled in the spec, but {unit} is enabled")
               if unit in enabled_units(c) else passed(NAME, f"disabled ({unit} is not enabled)"))
        return
    path = "/etc/firewalld/zones/public.xml"
    text = c.fs.read_text(path)
    if text is None:
        yield failed(NAME, f"{path} is missing: no port was opened")
        return
    try:
        zone = ET.fromstring(text)
    except ET.ParseError as exc:
        yield failed(NAME, f"{path} is not valid XML ({exc})")
        return
    ports = {(e.get("port"), e.get("protocol")) for e in zone.iter("port")}
    services = {e.get("name") for e in zone.iter("service")}
    for entry in firewall_ports(c.baseline):
        port, proto = entry.split("/")
        yield (passed(NAME, f"{entry} is open") if (port, proto) in ports
               else failed(NAME, f"{entry} is not open in the public zone"))
    for service in c.spec.firewall.services:
        yield (passed(NAME, f"service {service} is allowed") if service in services
               else failed(NAME, f"service {service} is not allowed in the public zone"))
    for service in firewall_services_removed(c.baseline):
        yield (failed(NAME, f"service {service} is allowed in the public zone, and the spec does not ask for it")
               if service in services else passed(NAME, f"service {service} is not allowed"))
    if not firewall_ports(c.baseline) and not c.spec.firewall.services and not firewall_services_removed(c.baseline):
        yield passed(NAME, "the public zone exists; the spec opens nothing")


UNIT = register(Unit(
    NAME, "`firewall`", (Step("firewall", step),),
    writes="`firewall-offline-cmd --add-port`, `--add-service`, `--remove-service` (guarded by `--query-*`; "
           "the sshd port is always opened)",
    check=check, checked="zone XML: ports and services open, services removed absent",
    kickstart="`firewall --enabled --port=PORT:tcp --service=S --remove-service=S`",
    not_applicable=in_container("a container's ports are published by its runtime, not by firewalld"),
    packages=packages, package_order=50,
    owns=("/etc/firewalld/zones/",),
))
