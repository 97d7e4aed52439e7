"""The locale item: the spec's `locale` in the family's locale file, generated where the family needs it (Debian),
and the glibc langpack (EL) or `locales` (Debian) it takes. Its step also writes `/etc/vconsole.conf` (the keyboard
item's file, rendered here)."""
from __future__ import annotations

from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..paths import LOCALE_CONF
from ..results import Check, Result, failed, passed, verdict, wrong_setting
from ..rootfs import parse_env
from ..shell import put_generated
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "locale"
EL_NO_LANGPACK = "glibc-minimal-langpack"


def locale_charset(locale: str) -> str:
    """The charmap localedef compiles a locale with: UTF-8 for xx_YY.UTF-8 (also with an @modifier), else Latin-1."""
    return "UTF-8" if locale.split("@")[0].lower().endswith((".utf-8", ".utf8")) else "ISO-8859-1"


def el_langpack(locale: str) -> str:
    """The one glibc langpack an EL system with `locale` needs (glibc requires one: without a choice, dnf picks any)."""
    lang = locale.split(".")[0].split("_")[0]
    return EL_NO_LANGPACK if lang in ("C", "POSIX") else f"glibc-langpack-{lang}"


def needs_generation(b: BaselineView) -> bool:
    return b.facts.baseline.locale_gen and b.spec.locale.split(".")[0] not in ("C", "POSIX")


def locale_file(b: BaselineView) -> str:
    return f"LANG={b.spec.locale}\n"


def vconsole_file(b: BaselineView) -> str:
    """/etc/vconsole.conf (EL): the keyboard item's file."""
    return f"KEYMAP={b.spec.keyboard}\n"


def locale_gen_entry(b: BaselineView) -> str | None:
    """The /etc/locale.gen line that makes the spec's locale (Debian), or None."""
    if not needs_generation(b):
        return None
    return f"{b.spec.locale} {locale_charset(b.spec.locale)}"


def packages(b: BaselineView) -> list[str]:
    if b.facts.baseline.locale_gen:
        return ["locales"] if needs_generation(b) else []
    return [langpack] if (langpack := el_langpack(b.spec.locale)) != EL_NO_LANGPACK else []


def step(b: BaselineView) -> list[str]:
    lines = [put_generated(b.paths.locale_conf, locale_file(b))]
    entry = locale_gen_entry(b)
    if entry:
        lines += [
            f"if ! grep -qxF -- {quote(entry)} /etc/locale.gen; then",
            f"    sed -i -e 's|^# *{_sed_escape(entry)}$|{_sed_escape(entry)}|' /etc/locale.gen",
            f"    grep -qxF -- {quote(entry)} /etc/locale.gen || echo {quote(entry)} >> /etc/locale.gen",
            "    locale-gen",
            "fi",
        ]
    if b.facts.baseline.keymap_file:
        lines.append(put_generated(b.facts.baseline.keymap_file, vconsole_file(b)))
    return lines


def _sed_escape(text: str) -> str:
    # Locale names are checked to [A-Za-z0-9_.@-]; '.' is the only regex character to escape.
    return text.replace(".", r"\.")


def check(c: Check) -> Iterator[Result]:
    b, locale = c.baseline, c.spec.locale
    path = b.paths.locale_conf
    text = c.fs.read_text(path)
    have = parse_env(text).get("LANG")
    yield (passed(NAME, f"LANG={locale} in {path}") if have == locale
           else failed(NAME, wrong_setting("LANG", path, text, have, locale)))
    if needs_generation(b):
        enabled = [line.split()[0] for line in (c.fs.read_text("/etc/locale.gen") or "").splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
        problems = [] if locale in enabled else [f"{locale} is not enabled in /etc/locale.gen"]
        if not c.fs.exists("/usr/lib/locale/locale-archive"):
            problems.append("/usr/lib/locale/locale-archive is missing (locale-gen did not run)")
        yield verdict(NAME, problems, f"{locale} is generated")


UNIT = register(Unit(
    NAME, "`locale`", (Step("locale", step),),
    writes="`/etc/locale.conf` or `/etc/default/locale` (+ `locale-gen`); `/etc/vconsole.conf` (the keyboard item)",
    check=check, checked="file content, generated locale", kickstart="`lang`",
    packages=packages, package_order=70,
    owns=(*LOCALE_CONF.values(), "/etc/locale.gen"),
))
