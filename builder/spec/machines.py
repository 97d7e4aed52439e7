"""Per-machine specs: the spec as installed on one of install.machines."""
from __future__ import annotations

from .model import Machine, Spec


def device_name(machine: Machine) -> str:
    """The device that carries the machine's address: its interface, or the VLAN on it."""
    return f"{machine.interface}.{machine.vlan}" if machine.vlan else machine.interface


def machine_spec(spec: Spec, machine: Machine) -> Spec:
    """The spec as installed on `machine`: its hostname, its address on its device, and its site (the mirrors it pulls through).

    The device is updated where the spec's network already defines it, added otherwise
    (a VLAN also gets its parent, without an address, if the spec has none).
    """
    data = spec.model_dump(mode="json")
    data["hostname"] = machine.hostname
    data["install"] = None
    if machine.site and data.get("container") and data["container"].get("prepull"):
        data["container"]["prepull"]["site"] = machine.site
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


def spec_in_site(spec: Spec, site: str | None) -> Spec:
    """The spec for a node in `site` (one of container.prepull.mirrors; None: no site, straight from the origin)."""
    prepull = spec.container.prepull if spec.container else None
    if prepull is None or spec.container is None:
        raise ValueError("the spec has no container.prepull")
    if site is not None and site not in prepull.mirrors:
        raise ValueError(f"site {site} has no entry in container.prepull.mirrors")
    container = spec.container.model_copy(update={"prepull": prepull.model_copy(update={"site": site})})
    return spec.model_copy(update={"container": container})
