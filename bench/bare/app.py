"""The ceiling of the load run: a bare Litestar page rendering a Jinja template, served by the
same uvicorn settings as Guichet (``uvicorn bench.bare.app:app``)."""

from pathlib import Path

from litestar import Litestar, get
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig


@get("/")
async def page() -> Template:
    return Template(
        "page.html",
        context={"title": "Page nue", "items": [f"Ligne {n}" for n in range(20)]},
    )


app = Litestar(
    route_handlers=[page],
    template_config=TemplateConfig(directory=Path(__file__).parent, engine=JinjaTemplateEngine),
    logging_config=None,
)
