"""docs/openapi.json is what the routes say (regenerate: python -m tentenone_gateway.openapi)."""

from __future__ import annotations

from pathlib import Path

from tentenone_gateway import openapi

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "uv.lock").exists())


def test_docs_openapi_json_is_up_to_date() -> None:
    path = ROOT / "docs" / "openapi.json"
    assert path.exists(), "docs/openapi.json is missing: run python -m tentenone_gateway.openapi"
    assert path.read_text() == openapi.render(), (
        "docs/openapi.json is stale: run python -m tentenone_gateway.openapi"
    )


def test_every_operation_documents_its_problems_and_security() -> None:
    import json

    doc = json.loads(openapi.render())
    assert doc["components"]["schemas"]["Problem"]["required"]
    private = {"list_positions", "read_position", "put_backup", "get_backup", "read_session"}
    for path, item in doc["paths"].items():
        assert path.startswith("/api/v1/")
        for method, op in item.items():
            responses = op["responses"]
            assert "429" in responses, f"{method} {path} does not document 429"
            problem = responses["429"]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}
            if op["operationId"] in private:
                assert op["security"] == [{"session": []}], op["operationId"]
                assert "401" in responses
