"""Checked string types for spec fields.

Every value that reaches a kickstart command line or the baseline script is
matched against a whitelist here. Free text (file contents, commands) is the
only exception; it is marked FREE_TEXT and carried base64-encoded.
"""
from __future__ import annotations

import difflib
import functools
import ipaddress
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic.config import JsonValue
from pydantic_core import PydanticCustomError

from ..targets import Target

FREE_TEXT = {"x-free-text": True}


def _matcher(pattern: str, what: str, hint: str = "", max_len: int = 255) -> AfterValidator:
    return AfterValidator(_match_check(pattern, what, hint, max_len))


def _match_check(pattern: str, what: str, hint: str = "", max_len: int = 255) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_len:
            raise ValueError(f"too long for {what} (at most {max_len} characters)")
        if not regex.fullmatch(value):
            raise ValueError(f"not a valid {what}" + (f": {hint}" if hint else ""))
        return value

    return check


def _checked(pattern: str, what: str, hint: str = "", max_len: int = 255, *also: AfterValidator,
             **schema: JsonValue) -> tuple[object, ...]:
    """The metadata of a string type, `Annotated[str, *_checked(...)]` (a type checker sees a str): the string matched
    against `pattern`, then checked by `also` (AfterValidators), in the schema as its pattern."""
    return (_matcher(pattern, what, hint, max_len), *also, Field(json_schema_extra={"pattern": f"^(?:{pattern})$", **schema}))


# ------------------------------------------------------------------ ports: every one the spec takes is checked here

PORT_MIN, PORT_MAX = 1, 65535


def port_problem(text: str) -> str | None:
    """Why a port number (as written) is not a port, or None."""
    if not text.isdigit():
        return "a port is a number after the ':'"
    if not (PORT_MIN <= int(text) <= PORT_MAX):
        return f"port {int(text)} is out of range: a port is {PORT_MIN} to {PORT_MAX}"
    return None


def _port_range(value: str) -> str:
    """`8080/tcp` or `8000-8100/tcp`: each port in range, the range's start at most its end."""
    ports = value.split("/")[0].split("-")
    for port in ports:
        if problem := port_problem(port):
            raise ValueError(problem)
    if len(ports) == 2 and int(ports[0]) > int(ports[1]):
        raise ValueError(f"the range {ports[0]}-{ports[1]} starts after it ends: write {ports[1]}-{ports[0]}")
    return value


def _host_port(value: str) -> str:
    """HOST:PORT (a registry host, or the start of an image reference): the port in range."""
    host = value.split("/")[0]
    if ":" in host and (problem := port_problem(host.rsplit(":", 1)[1])):
        raise ValueError(problem)
    return value


def _url_port(value: str) -> str:
    """A URL's port, when it names one, in range."""
    authority = urllib.parse.urlsplit(value).netloc.rsplit("@", 1)[-1]
    if ":" in authority and (problem := port_problem(authority.rsplit(":", 1)[1])):
        raise ValueError(problem)
    return value


Port = Annotated[int, Field(ge=PORT_MIN, le=PORT_MAX)]
_PORT_CHECK, _HOST_PORT_CHECK, _URL_PORT_CHECK = AfterValidator(_port_range), AfterValidator(_host_port), AfterValidator(_url_port)


Name = Annotated[str, *_checked(r"[a-z0-9][a-z0-9._-]*", "name", "lower-case letters, digits, '.', '_' and '-'", 63)]
Hostname = Annotated[str, *_checked(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    "host name", "letters, digits and '-', in dot-separated labels",
)]
UserName = Annotated[str, *_checked(r"[a-z_][a-z0-9_-]{0,31}", "user or group name", "lower-case, starts with a letter or '_'", 32)]
DeviceName = Annotated[str, *_checked(r"[A-Za-z][A-Za-z0-9_-]{0,14}", "interface name", "like eth0 or br10", 15)]
PortName = Annotated[str, *_checked(r"[A-Za-z][A-Za-z0-9_-]{0,14}(\.[0-9]{1,4})?", "interface name", "like eth0, eth0.10 or bond0", 15)]
_PACKAGE = r"[A-Za-z0-9][A-Za-z0-9._+:-]*"
_GROUP_ID = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
GROUP_SYNTAX = ("a dnf comps group is @ID and an environment @^ID, by its id as `dnf group list --ids` shows it "
                "(lower-case, no spaces): @web-server for \"Basic Web Server\", @^server-product-environment for \"Server\"")


def _package_check() -> AfterValidator:
    """A package name, @GROUP or @^ENVIRONMENT (dnf comps ids: what a kickstart's %packages and dnf install take)."""
    what = "package name"  # builder.spec.expected reads it (a list of package names)

    def check(value: str) -> str:
        if value.startswith("@"):
            kind, name = ("environment", value[2:]) if value.startswith("@^") else ("group", value[1:])
            if not name:
                raise PydanticCustomError("empty_group", f"an empty {kind} name", {"hint": GROUP_SYNTAX})
            if not re.fullmatch(_GROUP_ID, name):
                raise PydanticCustomError("group_name", f"not a valid {kind} id", {"hint": GROUP_SYNTAX})
        elif not re.fullmatch(_PACKAGE, value):
            raise PydanticCustomError("package_name", f"not a valid {what}",
                                      {"hint": f"a package name is letters, digits and ._+:- (no spaces); {GROUP_SYNTAX}"})
        return value

    return AfterValidator(check)


PackageName = Annotated[str, Field(max_length=128, json_schema_extra={"pattern": rf"^(?:@\^?{_GROUP_ID}|{_PACKAGE})$"}),
                        _package_check()]
UnitName = Annotated[str, *_checked(r"[A-Za-z0-9][A-Za-z0-9@_.:-]*", "systemd unit name", max_len=128)]
Locale = Annotated[str, *_checked(r"(C|POSIX|[a-z]{2,3}(_[A-Z]{2})?)(\.(UTF-8|utf8))?(@[a-z]+)?", "locale", "like en_US.UTF-8", 32)]
Keymap = Annotated[str, *_checked(r"[a-z0-9][a-z0-9_-]*", "keyboard layout", "like us or de-nodeadkeys", 32)]
def targets_hint(value: object = None) -> str:
    """The targets builder knows, with the closest ones first when `value` is a near miss."""
    names = [str(t) for t in Target]
    close = difflib.get_close_matches(str(value).lower(), names, n=2, cutoff=0.6) if isinstance(value, str) else []
    listed = "the targets are " + ", ".join(names)
    return f"did you mean {' or '.join(close)}? {listed}" if close else listed


def known_target(value: object) -> object:
    """A target builder knows, or an error that lists them (rather than pydantic's enum message)."""
    if isinstance(value, str) and value in {str(t) for t in Target}:
        return value
    raise PydanticCustomError("unknown_target", "not a target builder knows", {"hint": targets_hint(value)})


# City names people reach for that the IANA database spells differently (difflib cannot guess these).
TIMEZONE_ALIASES = {
    "Asia/Beijing": "Asia/Shanghai", "Asia/Peking": "Asia/Shanghai", "Asia/Mumbai": "Asia/Kolkata",
    "Asia/New_Delhi": "Asia/Kolkata", "Asia/Delhi": "Asia/Kolkata", "Asia/Hanoi": "Asia/Ho_Chi_Minh",
    "Asia/Abu_Dhabi": "Asia/Dubai", "Europe/Frankfurt": "Europe/Berlin", "Europe/Munich": "Europe/Berlin",
    "America/San_Francisco": "America/Los_Angeles", "America/Washington": "America/New_York",
    "America/Seattle": "America/Los_Angeles", "Australia/Canberra": "Australia/Sydney",
}


@functools.cache
def iana_timezones() -> frozenset[str]:
    # The system's tz database, or the tzdata package (a dependency) where the host has none.
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str:
    zones = iana_timezones()
    if not zones:
        raise ValueError("this host has no IANA time zone database to check the time zone against: "
                         "install tzdata (the system package, or `pip install tzdata`)")
    if value in zones:
        return value
    close = [zone for zone in sorted(zones) if zone.lower() == value.lower()]
    close += ([TIMEZONE_ALIASES[value]] if value in TIMEZONE_ALIASES else []) + difflib.get_close_matches(value, sorted(zones), n=3)
    hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else "; names are like UTC, Europe/Berlin or Asia/Shanghai"
    raise ValueError("not a time zone of the IANA database" + hint)


Timezone = Annotated[
    str,
    _matcher(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", "time zone", "like UTC or Asia/Shanghai", 64),
    AfterValidator(_timezone),
    Field(json_schema_extra={"pattern": r"^(?:[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*)$"}),
]
DiskDevice = Annotated[str, *_checked(r"(/dev/)?([a-z][a-z0-9]*|disk/by-[a-z]+/[A-Za-z0-9][A-Za-z0-9_.:-]*)", "disk name",
                      "like disk/by-path/pci-0000:00:1f.2-ata-1, /dev/disk/by-id/..., vda or nvme0n1", 128)]
DebSuite = Annotated[str, *_checked(r"[a-z0-9][a-z0-9.-]*", "Debian suite or component", max_len=64)]
def _sysctl_key(value: str) -> str:
    if value.replace("/", ".") == "net.ipv4.tcp_tw_recycle":
        raise ValueError(
            "net.ipv4.tcp_tw_recycle was removed in Linux 4.12 (it broke clients behind NAT) and "
            "`sysctl -p` fails on it; use net.ipv4.tcp_tw_reuse: 1 instead"
        )
    return value


SysctlKey = Annotated[
    str,
    _matcher(r"[a-z0-9_]+(\.[a-z0-9_-]+)+", "sysctl key", "like net.ipv4.tcp_tw_reuse", 128),
    AfterValidator(_sysctl_key),
]
_sysctl_text = _match_check(r"[A-Za-z0-9_.:-]+( [A-Za-z0-9_.:-]+)*", "sysctl value", "a number, or words of letters, digits and _.:-", 256)


def _sysctl_value(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise ValueError("give a number or a string, not true/false")
    return value if isinstance(value, int) else _sysctl_text(value)


SysctlValue = Annotated[int | str, AfterValidator(_sysctl_value)]
_PORT_RANGE = r"[0-9]{1,5}(-[0-9]{1,5})?"


def _port_with_protocol(value: object) -> object:
    """8080 (a YAML number) or "8080" names no protocol: say how to write it, rather than "not a string"."""
    bare = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(bare, str) and re.fullmatch(_PORT_RANGE, bare):
        raise PydanticCustomError("port_without_protocol", "a port needs its protocol",
                                  {"hint": f"write {bare}/tcp (or {bare}/udp)"})
    return value


FirewallPort = Annotated[str, BeforeValidator(_port_with_protocol),
                         _matcher(_PORT_RANGE + "/(tcp|udp|sctp)", "port", "like 8080/tcp or 6000-6010/udp", 16), _PORT_CHECK]
FirewallService = Annotated[str, *_checked(r"[a-z0-9][a-z0-9_-]*", "firewalld service name", max_len=64)]
FsType = Annotated[str, *_checked(
    r"xfs|ext4|ext3|ext2|btrfs|vfat|swap|biosboot|efi", "file system type", "xfs, ext4, btrfs, vfat, swap, biosboot or efi", 16,
)]
MountPoint = Annotated[str, *_checked(
    r"/([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?|swap|biosboot", "mount point", "an absolute path, swap or biosboot", 128,
)]
FileMode = Annotated[str, *_checked(r"0?[0-7]{3}", "file mode", "a quoted octal string like '0644'", 4)]
# $releasever and $basearch are the only variables dnf and Anaconda expand in repo URLs;
# no quotes, spaces, ';' or other '$' can pass.
Url = Annotated[str, *_checked(
    r"(https?|ftp|nfs|file)://([A-Za-z0-9._~:/+=,@-]|%[0-9A-Fa-f]{2})*(\$(releasever|basearch|stream)([A-Za-z0-9._~:/+=,@-]|%[0-9A-Fa-f]{2})*)*",
    "URL", "http(s), ftp, nfs or file URL without spaces or quotes; only $releasever, $basearch and $stream may appear",
    1024, _URL_PORT_CHECK,
)]
SshKey = Annotated[str, *_checked(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( [A-Za-z0-9@._+:=-]+)?",
    "SSH public key", "one line: type, base64 key, optional comment of letters, digits and @._+:=-", 16384,
)]
CryptHash = Annotated[str, *_checked(
    r"\$(6|5|y|gy|2b)\$[./A-Za-z0-9$=,]+",
    "crypt hash", "make one with: openssl passwd -6   (it reads the password from the terminal)", 512,
    writeOnly=True,
)]
MacAddress = Annotated[str, *_checked(
    r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", "MAC address", "six colon-separated hex pairs, like 52:54:00:12:34:56", 17,
)]
# One installer kernel argument: no spaces, quotes or shell characters.
KernelArg = Annotated[str, *_checked(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:/@+=-]*)?", "kernel argument", "like console=ttyS0,115200 or inst.text", 255)]
# Where the PXE client loads the installer kernel or initrd: a path on the boot server, or an http(s) URL.
BootFile = Annotated[str, *_checked(
    r"(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)?/?[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*", "boot file",
    "a path on the boot server like images/pxeboot/vmlinuz, or an http(s) URL without spaces or quotes", 1024, _URL_PORT_CHECK,
)]
# HOST[:PORT]/REPO[:TAG] of a container registry (no scheme: TLS unless plain HTTP is asked for).
ImageRef = Annotated[str, *_checked(
    r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?",
    "image reference", "HOST[:PORT]/REPO[:TAG], like registry.internal.example.com:5000/base/debian12-node:latest", 512,
    _HOST_PORT_CHECK,
)]
# HOST[:PORT] of a registry (a pull-through mirror): no scheme, no path.
RegistryHost = Annotated[str, *_checked(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?", "registry host",
                        "HOST[:PORT], like mirror.dc1.example.com:5000", 260, _HOST_PORT_CHECK)]
# One line of printable ASCII and no characters that a shell or a kickstart would read.
Label = Annotated[str, *_checked(r"[A-Za-z0-9 .,_+()/:@-]*", "description", "one line of letters, digits, spaces and .,_+()/:@-", 200)]


def _absolute_path(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._@+-]+(/[A-Za-z0-9._@+-]+)*", value):
        raise ValueError("not a valid path: absolute, letters, digits and ._@+- only")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError("path may not contain '.' or '..' components")
    if value.split("/")[1] in ("proc", "sys", "dev", "run", "tmp"):
        raise ValueError("path may not be under /proc, /sys, /dev, /run or /tmp")
    return value


AbsPath = Annotated[str, AfterValidator(_absolute_path), Field(max_length=1024)]


def _ip(value: str) -> str:
    # ipaddress accepts any text after '%' as an IPv6 scope ("fe80::1%x<newline>reboot").
    if "%" in value:
        raise ValueError("not a valid IP address: scoped addresses (with %zone) are not supported")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("not a valid IP address") from None
    return value


def _cidr(value: str) -> str:
    if "%" in value:
        raise ValueError("not a valid address: scoped addresses (with %zone) are not supported")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError("not a valid address: write ADDRESS/PREFIX, like 10.0.0.5/24") from None
    if "/" not in value:
        raise ValueError("address needs a prefix length, like 10.0.0.5/24")
    if iface.version != 4:
        raise ValueError("static IPv6 addresses are not supported yet: use an IPv4 address, like 10.0.0.5/24")
    if iface.ip == iface.network.network_address and iface.network.prefixlen < iface.max_prefixlen - 1:
        raise ValueError("this is a network address, not a host address")
    return value


IPAddress = Annotated[str, AfterValidator(_ip)]
Interface = Annotated[str, AfterValidator(_cidr)]


def _host_or_ip(value: str) -> str:
    try:
        return _ip(value)
    except ValueError:
        pass
    if not re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", value):
        raise ValueError("not a valid host name or IP address")
    return value


HostOrIP = Annotated[str, AfterValidator(_host_or_ip)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


FreeText = Annotated[str, AfterValidator(_no_nul), Field(max_length=1 << 20, json_schema_extra=FREE_TEXT)]


# Glance keeps these itself, or builder publish sets them from the image: a spec may not.
GLANCE_RESERVED = frozenset({
    "id", "name", "status", "visibility", "protected", "owner", "size", "virtual_size", "checksum", "os_hash_algo",
    "os_hash_value", "disk_format", "container_format", "min_disk", "min_ram", "created_at", "updated_at", "tags",
    "file", "schema", "self", "locations", "direct_url", "stores", "os_hidden",
})


def _glance_key(value: str) -> str:
    if value in GLANCE_RESERVED:
        raise ValueError(f"{value} is set by Glance or by builder publish, not by a spec property")
    return value


GlanceKey = Annotated[
    str,
    _matcher(r"[a-z][a-z0-9_]*(:[a-z0-9_]+)*", "Glance property name", "like hw_machine_type or os_admin_user", 255),
    AfterValidator(_glance_key),
]
# A cloud of clouds.yaml (openstacksdk's name for a region's credentials and endpoints).
CloudName = Annotated[str, *_checked(r"[A-Za-z0-9][A-Za-z0-9._-]*", "cloud name", "a name of clouds.yaml: letters, digits, '.', '_' and '-'", 64)]
GlanceValue = Annotated[str, *_checked(
    r"[A-Za-z0-9 .,_+()/:@=-]*", "Glance property value", "one line of letters, digits, spaces and .,_+()/:@=-", 255,
)]
