"""builder.versions orders versions as dpkg and rpm do: checked against the real tools, pair by pair."""
from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from support.requirements import skip_or_fail

from builder.versions import debian_compare, rpm_compare

DEBIAN = ["1.0", "1.0-1", "1.0-2", "1:0.9", "2:1.0", "1.0~rc1", "1.0~~", "1.0~", "1.0+b1", "1.0.1", "1.00", "1.0a",
          "1.0-1+deb12u1", "1.0-1+deb12u10", "1.0-1+deb12u2", "3.0.20-1~deb12u1", "3.0.22-1~deb12u1", "2.36-9+deb12u14",
          "2.36-9+deb12u4", "1:4.13+dfsg1-1+deb12u2", "1:4.13+dfsg1-1", "5.36.0-7+deb12u3", "10.42-1", "0", "0.0",
          "1.2.13.dfsg-1", "1:1.2.13.dfsg-1", "2026b-0+deb12u1", "2025b-0+deb12u1", "1.0-1.1", "1.0-1a", "a", "a~", "9", "10"]
RPM = ["1.0-1", "1.0-2", "1:0.9-1", "1.0-1.el9", "1.0-1.el9_2", "1.0~rc1-1", "1.0^git1-1", "1.0-1^1", "1.0.1-1",
       "1.00-1", "1.0a-1", "1.0-10", "1.0-9", "2.34-60.el9", "2.34-100.el9", "3.0.7-27.el9", "3.0.7-6.el9_5",
       "1.a-1", "1.1-1", "1_0-1", "1.0~~-1", "1.0^-1", "0:1.0-1", "252-51.el9", "252-14.el9_2.3", "9-1", "10-1"]


def debian_oracle(a: str, b: str) -> int:
    def holds(op: str) -> bool:
        return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0
    return -1 if holds("lt") else (0 if holds("eq") else 1)


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


def random_versions(alphabet: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(count)]


def test_debian_order_is_dpkgs():
    if shutil.which("dpkg") is None:
        skip_or_fail("dpkg is not installed")
    upstream = [v for v in random_versions("0123456789.~+ab", 40, 1) if v[0].isdigit()]
    versions = DEBIAN + [f"{u}-{r}" for u, r in zip(upstream, random_versions("0123456789.~+a", len(upstream), 2), strict=True)]
    rng = random.Random(3)
    pairs = [(a, b) for a in DEBIAN for b in DEBIAN] + [(rng.choice(versions), rng.choice(versions)) for _ in range(300)]
    wrong = [(a, b, sign(debian_compare(a, b)), debian_oracle(a, b)) for a, b in pairs
             if sign(debian_compare(a, b)) != debian_oracle(a, b)]
    assert not wrong, wrong[:20]


def test_rpm_order_is_rpms():
    if shutil.which("rpm") is None:
        skip_or_fail("rpm is not installed")
    versions = RPM + [f"{v}-{r}" for v, r in zip(random_versions("0123456789.~^_ab", 40, 4),
                                                     random_versions("0123456789.~^ab", 40, 5), strict=True)]
    rng = random.Random(6)
    pairs = [(a, b) for a in RPM for b in RPM] + [(rng.choice(versions), rng.choice(versions)) for _ in range(300)]
    script = "".join(f'print(rpm.vercmp("{a}", "{b}"), "\\n") ' for a, b in pairs)
    answer = subprocess.run(["rpm", "--eval", f"%{{lua: {script}}}"], capture_output=True, text=True, check=True).stdout
    oracle = [int(line) for line in answer.split()]
    assert len(oracle) == len(pairs)
    wrong = [(a, b, sign(rpm_compare(a, b)), want) for (a, b), want in zip(pairs, oracle, strict=True) if sign(rpm_compare(a, b)) != want]
    assert not wrong, wrong[:20]


@pytest.mark.parametrize("older, newer", [("3.0.20-1~deb12u1", "3.0.22-1~deb12u1"), ("1.5.2-6+deb12u2", "1.5.2-6+deb12u3")])
def test_the_errata_of_the_issue_are_newer(older: str, newer: str):
    assert debian_compare(older, newer) < 0 < debian_compare(newer, older)
