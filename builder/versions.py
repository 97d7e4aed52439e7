"""Package version order, as dpkg and rpm define it, for the build host that has neither tool (or not the
target's): which of two versions is newer. Ports of dpkg's `verrevcmp` (lib/dpkg/version.c) and rpm's
`rpmvercmp` (rpmio/rpmvercmp.c), checked against the real tools in tests/test_versions.py.

Both return <0, 0 or >0 as `a` is older than, the same as or newer than `b`.
"""
from __future__ import annotations

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


# ------------------------------------------------------------------ Debian: [epoch:]upstream[-revision]


def _dpkg_order(c: str) -> int:
    if c in _DIGITS:
        return 0
    if c in _LETTERS:
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_diff:
            return first_diff
    return 0


def _debian_parts(version: str) -> tuple[int, str, str]:
    epoch, _, rest = version.strip().partition(":") if ":" in version else ("0", "", version.strip())
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), upstream, revision


def debian_compare(a: str, b: str) -> int:
    """dpkg --compare-versions a ? b, as a number."""
    ea, ua, ra = _debian_parts(a)
    eb, ub, rb = _debian_parts(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


# ------------------------------------------------------------------ RPM: [epoch:]version-release


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment-wise comparison of one version or release string."""
    if a == b:
        return 0
    i = j = 0
    alnum = _DIGITS | _LETTERS
    while i < len(a) or j < len(b):
        while i < len(a) and a[i] not in alnum and a[i] not in "~^":
            i += 1
        while j < len(b) and b[j] not in alnum and b[j] not in "~^":
            j += 1
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if i >= len(a) or a[i] != "~":
                return 1
            if j >= len(b) or b[j] != "~":
                return -1
            i += 1
            j += 1
            continue
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (i < len(a) and j < len(b)):
            break
        kind = _DIGITS if a[i] in _DIGITS else _LETTERS
        si, sj = i, j
        while i < len(a) and a[i] in kind:
            i += 1
        while j < len(b) and b[j] in kind:
            j += 1
        one, two = a[si:i], b[sj:j]
        if not two:  # segments of different kinds: a number is newer than letters
            return 1 if kind is _DIGITS else -1
        if kind is _DIGITS:
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        if one != two:
            return 1 if one > two else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def _rpm_parts(evr: str) -> tuple[int, str, str]:
    epoch, _, rest = evr.partition(":") if ":" in evr else ("0", "", evr)
    version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), version, release


def rpm_compare(a: str, b: str) -> int:
    """rpm.vercmp of two [epoch:]version-release strings."""
    ea, va, ra = _rpm_parts(a)
    eb, vb, rb = _rpm_parts(b)
    if ea != eb:
        return -1 if ea < eb else 1
    # As rpm's rpmverCmp: the releases count only when both versions have one.
    return rpmvercmp(va, vb) or (rpmvercmp(ra, rb) if ra and rb else 0)
