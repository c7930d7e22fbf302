"""The OpenAPI description of the billing API (``/api/schema/openapi.json``).

The handler reads the body itself, so that each invoice is checked on its own and reported line
by line; this describes what it accepts and every answer it gives, for the tenants' software
(and for schemathesis, which checks that the answers keep to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)

__all__ = ["API_COMPONENTS", "BillableItemsOperation", "InvoicesOperation"]

BEARER = "billingToken"
API_COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="A token of the tenant, made in Facturation › Jetons d'API.",
        )
    }
)

_TEXT = OpenAPIType.STRING
_SET = r"[^\s\x1c-\x1f\x85]"  # not blank (what Python's strip() also takes for a space)


def _required_text(
    max_length: int, description: str = "", examples: list[str] | None = None
) -> Schema:
    return Schema(
        type=_TEXT,
        pattern=_SET,
        max_length=max_length,
        description=description or None,
        examples=examples,
    )


_QUANTITY = Schema(
    one_of=[
        Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=10_000),
        Schema(type=_TEXT, pattern=r"^([1-9][0-9]{0,3}|10000)$"),
    ],
    default=1,
)
_UNIT_PRICE = Schema(
    type=_TEXT,
    pattern=r"^[0-9]{1,5}([.,][0-9]{1,2})?$",
    description="Unit price in euros, up to 99999,99: 8,53 or 8.53",
    examples=["8,53"],
)
_UNIT_CENTS = Schema(
    type=OpenAPIType.INTEGER,
    minimum=0,
    maximum=10_000_000,
    description="Or the unit price in cents (853); used when both are given",
)
_LINE = Schema(
    type=OpenAPIType.OBJECT,
    required=["label"],
    any_of=[Schema(required=["unit_price"]), Schema(required=["unit_cents"])],
    properties={
        "label": _required_text(300),
        "quantity": _QUANTITY,
        "unit_price": _UNIT_PRICE,
        "unit_cents": _UNIT_CENTS,
    },
)
_DATE = Schema(
    type=_TEXT,
    format=OpenAPIFormat.DATE,
    description="YYYY-MM-DD (DD/MM/YYYY is also read)",
    examples=["2020-02-15"],
)
_MOMENT = Schema(
    type=_TEXT,
    format=OpenAPIFormat.DATE_TIME,
    description="When online payment opens or closes, e.g. 2019-12-17T08:00:00+01:00",
)
_INVOICE = Schema(
    type=OpenAPIType.OBJECT,
    required=[
        "number",
        "ledger",
        "service",
        "reference",
        "label",
        "issue_date",
        "due_date",
        "lines",
    ],
    properties={
        "number": Schema(type=_TEXT, pattern=r"^[A-Za-z0-9-]{1,30}$", examples=["2001000001"]),
        "ledger": _required_text(50, "Code of the ledger", examples=["seniors"]),
        "service": _required_text(50, "Code of the service", examples=["action-sociale"]),
        "reference": _required_text(50, "The citizen's file in that service"),
        "label": _required_text(200, examples=["Janvier 2020"]),
        "recipient": Schema(type=_TEXT, max_length=200),
        "recipient_address": Schema(
            type=_TEXT,
            max_length=300,
            description=(
                "The lines under the recipient's name on the paper invoice, separated by line "
                "breaks, the last one « 81100 CASTRES » (at most 5 lines). When left out: the "
                "address of the citizen's space linked to the file, else the file's."
            ),
            examples=["12 rue de la République\n81100 CASTRES"],
        ),
        "issue_date": _DATE,
        "due_date": _DATE,
        "pay_from": _MOMENT,
        "pay_until": _MOMENT,
        "direct_debit": Schema(type=OpenAPIType.BOOLEAN, default=False),
        "lines": Schema(type=OpenAPIType.ARRAY, items=_LINE, min_items=1, max_items=200),
    },
)
_REQUEST = Schema(
    type=OpenAPIType.OBJECT,
    required=["invoices"],
    properties={"invoices": Schema(type=OpenAPIType.ARRAY, items=_INVOICE)},
)
_REPORT = Schema(
    type=OpenAPIType.OBJECT,
    required=["created", "unchanged", "created_numbers", "errors"],
    properties={
        "created": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "unchanged": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "created_numbers": Schema(type=OpenAPIType.ARRAY, items=Schema(type=_TEXT)),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["index", "number", "field", "message"],
                properties={
                    "index": Schema(type=OpenAPIType.INTEGER, minimum=0),
                    "number": Schema(type=_TEXT),
                    "field": Schema(type=_TEXT),
                    "message": Schema(type=_TEXT),
                },
            ),
        ),
    },
)
_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["error"],
    properties={"error": Schema(type=_TEXT)},
)


def _json(description: str, schema: Schema) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description, content={"application/json": OpenAPIMediaType(schema=schema)}
    )


@dataclass
class InvoicesOperation(Operation):
    """``POST /api/v1/{tenant}/invoices`` as the tenants' billing software sees it."""

    def __post_init__(self) -> None:
        self.description = (
            "Create the invoices that do not exist yet (idempotent on ledger and number: "
            "sending the same invoice again leaves it unchanged). Each invoice is checked on "
            "its own; the answer reports what was created and the errors, invoice by invoice."
        )
        self.security = [{BEARER: []}]
        self.request_body = RequestBody(
            required=True, content={"application/json": OpenAPIMediaType(schema=_REQUEST)}
        )
        self.responses = {
            "200": _json("Every invoice was created or was already there", _REPORT),
            "207": _json("Some invoices were refused (see errors), others taken", _REPORT),
            "422": _json("Every invoice was refused (see errors)", _REPORT),
            "400": _json('The body is not JSON, or not {"invoices": [...]}', _ERROR),
            "401": _json("Missing or invalid token", _ERROR),
            "404": _json("Unknown tenant", _ERROR),
            "413": _json("Body larger than 5 MB", _ERROR),
            "503": _json("The tenant is in maintenance or suspended", _ERROR),
        }


_ITEM = Schema(
    type=OpenAPIType.OBJECT,
    required=["ledger", "service", "reference", "date", "label"],
    any_of=[Schema(required=["unit_price"]), Schema(required=["unit_cents"])],
    properties={
        "ledger": _required_text(50, "Code of the ledger", examples=["seniors"]),
        "service": _required_text(50, "Code of the service", examples=["action-sociale"]),
        "reference": _required_text(50, "The citizen's file in that service"),
        "date": Schema(
            type=_TEXT,
            format=OpenAPIFormat.DATE,
            description="The day the service was delivered, YYYY-MM-DD (DD/MM/YYYY is also "
            "read), from 2000 to 2099; its month is the billing run that invoices it",
            examples=["2020-02-03"],
        ),
        "label": _required_text(300, examples=["Portage de repas à domicile"]),
        "quantity": _QUANTITY,
        "unit_price": _UNIT_PRICE,
        "unit_cents": _UNIT_CENTS,
    },
)
_ITEMS_REQUEST = Schema(
    type=OpenAPIType.OBJECT,
    required=["items"],
    properties={
        "items": Schema(
            type=OpenAPIType.ARRAY,
            items=_ITEM,
            description="Up to 20,000 items (more are refused in the report, field « items »)",
        )
    },
)
_ITEMS_REPORT = Schema(
    type=OpenAPIType.OBJECT,
    required=["created", "updated", "unchanged", "errors"],
    properties={
        "created": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "updated": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "unchanged": Schema(type=OpenAPIType.INTEGER, minimum=0),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["index", "field", "message"],
                properties={
                    "index": Schema(
                        one_of=[
                            Schema(type=OpenAPIType.INTEGER, minimum=0),
                            Schema(type=OpenAPIType.NULL),
                        ]
                    ),
                    "field": Schema(type=_TEXT),
                    "message": Schema(type=_TEXT),
                },
            ),
        ),
    },
)


@dataclass
class BillableItemsOperation(Operation):
    """``POST /api/v1/{tenant}/billable-items`` as the services' software sees it."""

    def __post_init__(self) -> None:
        self.description = (
            "Services delivered (a meal on 3 February…), each waiting for the billing run of "
            "its month, which makes one invoice per file. An item is known by its ledger, "
            "file, date and label: sent again it is unchanged, or updated with the new quantity "
            "and price while its month is not invoiced yet. When any item has an error, none "
            "is taken: the answer lists the errors, item by item (index from 0)."
        )
        self.security = [{BEARER: []}]
        self.request_body = RequestBody(
            required=True, content={"application/json": OpenAPIMediaType(schema=_ITEMS_REQUEST)}
        )
        self.responses = {
            "200": _json("Every item was created, updated or was already there", _ITEMS_REPORT),
            "422": _json("Some items were refused (see errors): none was taken", _ITEMS_REPORT),
            "400": _json('The body is not JSON, or not {"items": [...]}', _ERROR),
            "401": _json("Missing or invalid token", _ERROR),
            "404": _json("Unknown tenant", _ERROR),
            "409": _json("The same items were being imported at the same moment", _ERROR),
            "413": _json("Body larger than 5 MB", _ERROR),
            "503": _json("The tenant is in maintenance or suspended", _ERROR),
        }
