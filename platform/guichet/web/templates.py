"""Jinja rendering from ``[themes/<tenant theme>, themes/default]`` and cache-busted static URLs."""

from __future__ import annotations

import hashlib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    nodes,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from guichet import i18n
from guichet.audit.labels import action_label, detail_text
from guichet.web.field_limits import FIELD_LIMITS
from guichet.web.markdown import render_markdown

__all__ = ["TemplateRenderer"]

_PLAIN_TEXTS: dict[tuple[str, bool, str], str] = {}


def _format(text: str, autoescape: bool, variables: dict[str, Any]) -> str:
    # as jinja's new-style gettext: always a format string, escaped when the template is
    # the text is the catalog's (trusted), the variables are escaped by the formatting
    return (Markup(text) if autoescape else text) % variables  # noqa: S704


@pass_context
def _gettext(context: Context, message: str, **variables: Any) -> str:
    """jinja's new-style gettext, with the texts that take no variable kept per locale: each
    was translated and formatted again on every use, 7 % of MON ACCUEIL's CPU
    (bench/README.md)."""
    autoescape = bool(context.eval_ctx.autoescape)
    if variables:
        return _format(i18n.gettext(message), autoescape, variables)
    key = (i18n.current_locale(), autoescape, message)
    text = _PLAIN_TEXTS.get(key)
    if text is None:
        if len(_PLAIN_TEXTS) >= 20_000:  # bounded, though templates hold far fewer texts
            _PLAIN_TEXTS.clear()
        text = _PLAIN_TEXTS[key] = _format(i18n.gettext(message), autoescape, {})
    return text


class _ConstantTexts(NodeTransformer):
    """Puts the translation of ``_("a literal text")`` in the compiled template.

    A template is compiled once per locale, so the catalog's text of a literal is known then:
    ``_("Mes factures")`` becomes the constant ``Mes factures`` (``My invoices``), written into
    the page as the surrounding HTML is, and ``_("bâtiment %(name)s", name=…)`` becomes the
    translated format string ``%`` its variables. The same result as :func:`_gettext` (a
    Markup when the template escapes, its variables escaped by the formatting), without a call
    at each rendering: about 40 of them on MON ACCUEIL (bench/README.md).
    """

    def __init__(self, locale: str) -> None:
        self.translations = i18n.get_translations(locale)

    def visit_Call(self, node: nodes.Call) -> nodes.Node:  # jinja names its visitors so
        node = self.generic_visit(node)  # type: ignore[assignment]
        if not (
            isinstance(node.node, nodes.Name)
            and node.node.name == "_"
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return node
        text: nodes.Expr = nodes.MarkSafeIfAutoescape(
            nodes.Const(self.translations.gettext(node.args[0].value))
        )
        variables = nodes.Dict([nodes.Pair(nodes.Const(k.key), k.value) for k in node.kwargs])
        # % {} as well when there is no variable: « 100 %% » is « 100 % », as at run time
        return nodes.Mod(text, variables, lineno=node.lineno)


class _LocaleEnvironment(Environment):
    """An environment whose templates are compiled for one locale (see :class:`_ConstantTexts`)."""

    def __init__(self, locale: str, **options: Any) -> None:
        super().__init__(**options)
        self.locale = locale

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # ``_`` is the gettext global unless a template names something else so
        if any(n.name == "_" and n.ctx != "load" for n in tree.find_all(nodes.Name)):
            return tree
        tree = _ConstantTexts(self.locale).visit(tree)
        tree.set_environment(self)  # the new nodes too
        return tree


def _lines(text: str | None) -> Markup:
    """A text of several lines (a postal address) shown as its lines, each escaped."""
    return Markup("<br>").join(escape(line) for line in (text or "").splitlines())


class TemplateRenderer:
    """One Jinja environment per theme; templates fall back on the default theme."""

    def __init__(self, themes_dir: Path, *, auto_reload: bool = False) -> None:
        self.themes_dir = themes_dir
        self.auto_reload = auto_reload
        self._environments: dict[tuple[str, str], Environment] = {}
        self._static_hashes: dict[tuple[str, str], str] = {}

    def themes(self) -> list[str]:
        return sorted(p.name for p in self.themes_dir.iterdir() if (p / "templates").is_dir())

    def environment(self, theme: str, locale: str | None = None) -> Environment:
        """The environment of ``theme`` for ``locale`` (by default the current one)."""
        locale = locale or i18n.current_locale()
        env = self._environments.get((theme, locale))
        if env is None:
            folders = [self.themes_dir / theme / "templates"] if theme != "default" else []
            folders.append(self.themes_dir / "default" / "templates")
            env = _LocaleEnvironment(
                locale,
                loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders if f.is_dir()]),
                autoescape=select_autoescape(["html", "xml"], default_for_string=True),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                auto_reload=self.auto_reload,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_callables(  # type: ignore[attr-defined]
                gettext=lambda s, **kw: i18n.gettext(s, **kw),
                ngettext=lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw),
                newstyle=True,
            )
            env.globals["gettext"] = _gettext
            env.globals.update(
                static=lambda path, t=theme: self.static_url(t, path),
                markdown=render_markdown,
                format_date=i18n.format_date,
                format_datetime=i18n.format_datetime,
                format_money=i18n.format_money,
                format_bytes=i18n.format_bytes,
                locale_name=i18n.locale_name,
                action_label=action_label,
                field_limits=FIELD_LIMITS,
                detail_text=detail_text,
                today=date.today,
                paris=ZoneInfo("Europe/Paris"),
            )
            env.filters.update(
                zip_same=lambda items: [(str(i), str(i)) for i in items],
                map_departements=lambda items: [(code, f"{code} – {name}") for code, name in items],
                prefix_keys=lambda mapping, prefix: {
                    f"{prefix}{k}": v for k, v in (mapping or {}).items()
                },
                lines=_lines,
            )
            self._environments[(theme, locale)] = env
        return env

    def render(self, theme: str, template: str, context: dict[str, Any]) -> str:
        return self.environment(theme).get_template(template).render(context)

    def static_path(self, theme: str, path: str) -> Path | None:
        """The file behind ``/static/<theme>/<path>``, looked up in the theme then default."""
        for name in (theme, "default"):
            base = (self.themes_dir / name / "static").resolve()
            candidate = (base / path).resolve()
            if base in candidate.parents and candidate.is_file():
                return candidate
        return None

    def static_url(self, theme: str, path: str) -> str:
        key = (theme, path)
        digest = self._static_hashes.get(key) if not self.auto_reload else None
        if digest is None:
            found = self.static_path(theme, path)
            digest = _file_digest(found) if found else "missing"
            self._static_hashes[key] = digest
        return f"/static/{theme}/{path}?v={digest}"


@lru_cache(maxsize=512)
def _hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _file_digest(path: Path) -> str:
    return _hash_bytes(path.read_bytes())
