"""GitHub's official OpenAPI description (npm package @octokit/openapi), for checking the simulator.

`scripts/fetch-openapi.sh` unpacks it into .cache/; tests that need it skip (or, in CI,
fail) when it is missing.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / ".cache" / "octokit-openapi" / "package" / "generated" / "api.github.com.json"


def missing() -> str | None:
    if SPEC.exists():
        return None
    return f"GitHub's OpenAPI description is not unpacked at {SPEC} (run scripts/fetch-openapi.sh)"


def _nullable_enums(node: Any) -> Any:
    """OpenAPI 3.0 reads ``nullable: true`` with ``enum`` as allowing null; JSON Schema's
    enum check does not, so null joins such enums (GitHub sends ``"conclusion": null``)."""
    if isinstance(node, dict):
        out = {k: _nullable_enums(v) for k, v in node.items()}
        if out.get("nullable") is True and isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_nullable_enums(v) for v in node]
    return node


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = _nullable_enums(json.loads(SPEC.read_text()))
    return data


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema GitHub documents for one response, or None if it has no body."""
    op = spec()["paths"][path][method.lower()]
    resp = op["responses"][str(status)]
    if "$ref" in resp:
        resp = spec()["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    content = resp.get("content", {}).get("application/json")
    if content is None:
        return None
    return {**content["schema"], "components": spec()["components"]}


def validate(path: str, method: str, status: int, body: Any) -> None:
    from openapi_schema_validator import OAS30Validator

    schema = response_schema(path, method, status)
    if schema is None:
        assert body in (None, b"", ""), f"{method} {path} {status} documents no body"
        return
    OAS30Validator(schema).validate(body)
