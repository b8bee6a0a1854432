"""OpenAPI docs at /docs that work offline: Swagger UI's files come from the swagger-ui-bundle
package installed with casebot, not from a CDN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

ASSETS = "/docs-assets"


def swagger_ui_dir() -> str:
    """The folder of Swagger UI's JavaScript and CSS shipped by swagger-ui-bundle."""
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs with its assets under /docs-assets (app built with docs_url=None)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(ASSETS, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False, response_model=None)
    def docs() -> Any:
        """Swagger UI for /openapi.json, from local files."""
        return get_swagger_ui_html(openapi_url="openapi.json", title="casebot API",
                                   swagger_js_url=f"{ASSETS[1:]}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS[1:]}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS[1:]}/favicon-32x32.png")
