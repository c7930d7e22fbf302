"""``[[procedures]]`` of ``tenants/<slug>/tenant.toml``: checked field by field, then applied
(added or updated by code). A procedure that leaves the file is kept as it is, like news and
services (the back-office will edit the same records); ``active = false`` withdraws one."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.procedures.models import FIELD_KINDS, Procedure, RequestStatus

__all__ = ["apply_procedures", "parse_procedures"]

_CODE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_CODES = {"suivi"}  # /demarches/suivi: following a request
_PROCEDURE_KEYS = {
    "code",
    "title",
    "description",
    "account_required",
    "processing_days",
    "fields",
    "documents",
    "statuses",
    "active",
}
_FIELD_KEYS = {
    "key",
    "label",
    "kind",
    "required",
    "hint",
    "choices",
    "prefill",
    "min",
    "max",
    "integer",
}
# What a field may be prefilled with from the citizen's details.
PREFILL = {
    "full_name",
    "first_name",
    "last_name",
    "birth_date",
    "email",
    "phone",
    "mobile",
    "address",
    "emergency_contact",  # « Prénom NOM — téléphone » of the first « Contact à prévenir »
}
_DEFAULT_STATUSES = [s.value for s in RequestStatus]


def _flag(
    entry: dict[str, Any], name: str, default: bool, where: str, problems: list[tuple[str, str]]
) -> bool:
    """A true/false value: ``"false"`` (text) is refused, never read as true."""
    value = entry.get(name, default)
    if not isinstance(value, bool):
        problems.append((f"{where}.{name}", "true or false (without quotes)"))
        return default
    return value


def _text(
    entry: dict[str, Any], name: str, where: str, limit: int, problems: list[tuple[str, str]]
) -> str | None:
    """A text of at most ``limit`` characters (None, with a problem, otherwise)."""
    value = entry.get(name, "")
    if not isinstance(value, str):
        problems.append((f"{where}.{name}", "a text"))
        return None
    if len(value.strip()) > limit:
        problems.append((f"{where}.{name}", f"{limit} characters at most"))
        return None
    return value.strip()


# Which details may prefill which kind of field.
_PREFILL_KINDS = {
    "text": {"full_name", "first_name", "last_name", "emergency_contact"},
    "date": {"birth_date"},
    "email": {"email"},
    "phone": {"phone", "mobile"},
    "address": {"address"},
}


def _fields(label: str, raw: Any, problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or any(not isinstance(f, dict) for f in raw):
        problems.append((f"{label}.fields", "expected [[procedures.fields]] tables"))
        return []
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for j, entry in enumerate(raw):
        where = f"{label}.fields[{j}]"
        for name in sorted(set(entry) - _FIELD_KEYS):
            problems.append((f"{where}.{name}", "unknown field"))
        key, kind = entry.get("key"), entry.get("kind")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            problems.append((f"{where}.key", "lowercase letters, digits and _ (a letter first)"))
            continue
        if key in seen:
            problems.append((f"{where}.key", f"{key} is used twice"))
            continue
        seen.add(key)
        before = len(problems)
        field_label = _text(entry, "label", where, 200, problems)
        hint = _text(entry, "hint", where, 300, problems)
        required = _flag(entry, "required", False, where, problems)
        if len(problems) > before or field_label is None or hint is None:
            continue
        if not field_label:
            problems.append((f"{where}.label", "required"))
            continue
        if kind not in FIELD_KINDS:
            problems.append((f"{where}.kind", "one of " + ", ".join(FIELD_KINDS)))
            continue
        choices = entry.get("choices", [])
        if kind in ("choice", "checkboxes"):
            if (
                not isinstance(choices, list)
                or len(choices) < 2
                or any(not isinstance(c, str) or not c.strip() or len(c) > 200 for c in choices)
                or len({c.strip() for c in choices}) != len(choices)
            ):
                problems.append(
                    (f"{where}.choices", "at least two different texts of 200 characters at most")
                )
                continue
        elif choices:
            problems.append((f"{where}.choices", "only for the kinds choice and checkboxes"))
            continue
        limits: dict[str, Any] = {}
        if kind == "number":
            for bound in ("min", "max"):
                if bound in entry:
                    value = entry[bound]
                    if (
                        not isinstance(value, int | float)
                        or isinstance(value, bool)
                        or not math.isfinite(value)
                    ):
                        problems.append((f"{where}.{bound}", "a number"))
                    else:
                        limits[bound] = value
            limits["integer"] = _flag(entry, "integer", False, where, problems)
            if "min" in limits and "max" in limits and limits["min"] > limits["max"]:
                problems.append((f"{where}.max", "at least min"))
            if len(problems) > before:
                continue
        elif {"min", "max", "integer"} & set(entry):
            problems.append((f"{where}.min", "min, max and integer are for number fields"))
            continue
        prefill = entry.get("prefill", "")
        if prefill and (not isinstance(prefill, str) or prefill not in PREFILL):
            problems.append((f"{where}.prefill", "one of " + ", ".join(sorted(PREFILL))))
            continue
        if prefill and prefill not in _PREFILL_KINDS.get(kind, set()):
            allowed = ", ".join(sorted(_PREFILL_KINDS.get(kind, set()))) or "nothing"
            problems.append((f"{where}.prefill", f"a {kind} field can take {allowed}"))
            continue
        fields.append(
            {
                "key": key,
                "label": field_label,
                "kind": kind,
                "required": required,
                "hint": hint,
                "choices": [c.strip() for c in choices] if choices else [],
                "prefill": prefill,
                **limits,
            }
        )
    return fields


def _documents(label: str, raw: Any, problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or any(not isinstance(d, dict) for d in raw):
        problems.append((f"{label}.documents", "expected [[procedures.documents]] tables"))
        return []
    documents: list[dict[str, Any]] = []
    for j, entry in enumerate(raw):
        where = f"{label}.documents[{j}]"
        for name in sorted(set(entry) - {"key", "label", "required"}):
            problems.append((f"{where}.{name}", "unknown field"))
        key = entry.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            problems.append((f"{where}.key", "lowercase letters, digits and _ (a letter first)"))
            continue
        before = len(problems)
        document_label = _text(entry, "label", where, 200, problems)
        required = _flag(entry, "required", True, where, problems)
        if len(problems) > before or document_label is None:
            continue
        if not document_label:
            problems.append((f"{where}.label", "required"))
            continue
        documents.append({"key": key, "label": document_label, "required": required})
    if len({d["key"] for d in documents}) != len(documents):
        problems.append((f"{label}.documents", "two documents have the same key"))
    return documents


def parse_procedures(entries: list[Any], problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The procedures of a tenant file; each problem is (field, reason)."""
    procedures: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        label = f"procedures[{i}]"
        for name in sorted(set(entry) - _PROCEDURE_KEYS):
            problems.append((f"{label}.{name}", "unknown field"))
        code = entry.get("code")
        if not isinstance(code, str) or not _CODE.fullmatch(code) or len(code) > 60:
            problems.append((f"{label}.code", "lowercase letters, digits and hyphens"))
            continue
        if code in RESERVED_CODES:
            problems.append((f"{label}.code", f"{code!r} is a page of /demarches/, not free"))
            continue
        before = len(problems)
        title = _text(entry, "title", label, 200, problems)
        description = _text(entry, "description", label, 10_000, problems)
        account_required = _flag(entry, "account_required", True, label, problems)
        active = _flag(entry, "active", True, label, problems)
        if len(problems) > before or title is None or description is None:
            continue
        if not title:
            problems.append((f"{label}.title", "required"))
            continue
        days = entry.get("processing_days", 0)
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
            problems.append((f"{label}.processing_days", "a number of days from 0 to 365"))
            continue
        statuses = entry.get("statuses", _DEFAULT_STATUSES)
        if (
            not isinstance(statuses, list)
            or any(s not in _DEFAULT_STATUSES for s in statuses)
            or "transmise" not in statuses
        ):
            problems.append(
                (f"{label}.statuses", "among " + ", ".join(_DEFAULT_STATUSES) + "; with transmise")
            )
            continue
        fields = _fields(label, entry.get("fields", []), problems)
        documents = _documents(label, entry.get("documents", []), problems)
        shared = {f["key"] for f in fields} & {d["key"] for d in documents}
        if shared:
            problems.append((f"{label}.documents", f"key {sorted(shared)[0]} is also a field's"))
        if len(problems) > before:
            continue
        procedures.append(
            {
                "code": code,
                "title": title,
                "description": description,
                "account_required": account_required,
                "processing_days": days,
                "fields": fields,
                "documents": documents,
                "statuses": [s for s in _DEFAULT_STATUSES if s in statuses],
                "position": i,
                "active": active,
            }
        )
    if len({p["code"] for p in procedures}) != len(procedures):
        problems.append(("procedures", "two procedures have the same code"))
    return procedures


async def apply_procedures(
    session: AsyncSession, tenant_id: uuid.UUID, specs: list[dict[str, Any]]
) -> list[str]:
    """Add or update the procedures of the file."""
    existing = {
        p.code: p
        for p in (
            await session.execute(select(Procedure).where(Procedure.tenant_id == tenant_id))
        ).scalars()
    }
    changes: list[str] = []
    for spec in specs:
        procedure = existing.pop(spec["code"], None)
        values = dict(spec)
        if procedure is None:
            session.add(Procedure(tenant_id=tenant_id, **values))
            changes.append(f"procedure {spec['code']}: added")
            continue
        changed = [k for k, v in values.items() if getattr(procedure, k) != v]
        for name in changed:
            setattr(procedure, name, values[name])
        if changed:
            changes.append(f"procedure {spec['code']}: {', '.join(changed)} changed")
    return changes
