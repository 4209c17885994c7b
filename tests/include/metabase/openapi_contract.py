"""Checks HTTP requests against Metabase's OpenAPI document (the subset in ../shared/metabase) with openapi-core.

openapi-core finds the operation and validates its path and query parameters and its JSON body. What it
leaves open, and Metabase's server does not, is checked here: a query parameter the operation does not
declare, a `required` parameter left out because it has a default, and a body where none is declared or
none sent. The fake Metabase server asks `OpenApiContract.check(...)` about every request it receives;
anything not allowed comes back as a list of human-readable problems.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from openapi_core import OpenAPI
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.validation.request.exceptions import ParameterValidationError, RequestBodyValidationError
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import ImmutableMultiDict

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SPEC_PATH = PROJECT_ROOT.parent / "shared" / "metabase" / "openapi-subset.json"

# Requests are matched by path alone: the spec's one server is http://localhost:3000, the fake's port is random.
_ANY_SERVER = [{"url": "/"}]
_HOST_URL = "http://metabase.test"
_NULL = {"type": "null"}
_MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Operation:
    """One method + path template from the spec, e.g. GET /api/card/{id}."""

    method: str
    template: str


@dataclass
class CheckResult:
    """What the contract says about one request: the matched operation, decoded inputs and problems."""

    operation: Operation | None = None
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    """One request in the shape openapi-core reads (its `openapi_core.protocols.Request`)."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


class OpenApiContract:
    """Validates requests against the spec with openapi-core.

    `apply_defaults=False` follows the spec literally: Metabase's generator marks a parameter or body key
    `required` even when it has a `default`. With `apply_defaults=True` such keys may be omitted, which is
    what the running server accepts (its decoder fills in defaults before validating).
    """

    def __init__(self, spec: dict[str, Any], *, apply_defaults: bool = False) -> None:
        self.spec = _as_metabase_reads_it(spec, apply_defaults=apply_defaults)
        self.openapi = OpenAPI.from_dict(self.spec)  # validates the document itself (openapi-spec-validator)
        self._finder = APICallPathFinder(self.openapi.spec)
        # Root paths carry a trailing slash in the spec (/api/card/); Metabase answers without it too.
        self._slashed_roots = {template.rstrip("/") for template in self.spec["paths"] if template.endswith("/")}

    @classmethod
    def from_file(cls, path: Path | str = DEFAULT_SPEC_PATH, *, apply_defaults: bool = False) -> OpenApiContract:
        """One contract per spec file and mode, shared: reading and validating the spec takes about a second."""
        return _contract_from_file(str(path), apply_defaults)

    def check(
        self, method: str, path: str, query: dict[str, list[str]], raw_body: bytes, content_type: str
    ) -> CheckResult:
        method = method.upper()
        path = f"{path}/" if path in self._slashed_roots else path
        try:
            found = self._finder.find(method.lower(), f"{_HOST_URL}{path}")
        except PathNotFound:
            return CheckResult(problems=[f"undeclared path {path!r}"])
        except OperationNotFound:
            return CheckResult(problems=[f"method {method} is not declared for {path!r}"])
        operation_spec = found.operation
        result = CheckResult(operation=Operation(method, found.path.parts[-1]))
        result.problems += self._query_problems(operation_spec, query)
        has_body = bool(raw_body.strip())
        if "requestBody" not in operation_spec and has_body:
            result.problems.append(f"{method} {result.operation.template} declares no request body, but one was sent")
        elif "requestBody" in operation_spec and not has_body:
            # The spec says `required: false`, but Metabase validates the missing body against the schema.
            result.problems.append("request body is required (JSON)")
        query_items = [(name, value) for name, values in query.items() for value in values]
        request = _Request(
            host_url=_HOST_URL,
            path=path,
            method=method.lower(),
            parameters=RequestParameters(query=ImmutableMultiDict(query_items)),
            content_type=content_type,
            body=raw_body if has_body else None,
        )
        unmarshalled = self.openapi.unmarshal_request(request)
        result.problems += [problem for error in unmarshalled.errors for problem in _describe(error)]
        result.path_params = dict(unmarshalled.parameters.path)
        result.query = dict(unmarshalled.parameters.query)
        result.body = json_or_none(raw_body)
        return result

    def _query_problems(self, operation_spec: Any, query: dict[str, list[str]]) -> list[str]:
        """What openapi-core lets through: undeclared names, and required ones missing because they have a default."""
        declared = {}
        for parameter in operation_spec / "parameters" if "parameters" in operation_spec else []:
            if (parameter / "in").read_str() == "query":
                declared[(parameter / "name").read_str()] = parameter
        problems = [f"undeclared query parameter {name!r}" for name in query if name not in declared]
        problems += [
            f"missing required query parameter {name!r}"
            for name, parameter in declared.items()
            if name not in query
            and (parameter / "required").read_bool(default=False)
            and "default" in parameter / "schema"
        ]
        return problems


# --------------------------------------------------------------------------------------------- spec reading


@cache
def _contract_from_file(path: str, apply_defaults: bool) -> OpenApiContract:
    return OpenApiContract(json.loads(Path(path).read_text()), apply_defaults=apply_defaults)


def _as_metabase_reads_it(spec: dict[str, Any], *, apply_defaults: bool) -> dict[str, Any]:
    """The spec as the running server applies it; openapi-core then validates against this reading."""
    read = _one_of_as_any_of(copy.deepcopy(spec))
    read["servers"] = _ANY_SERVER
    for path_item in read["paths"].values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                parameter["schema"] = _without_null_branch(parameter.get("schema", {}))
                if apply_defaults and "default" in parameter["schema"]:
                    parameter["required"] = False
    if apply_defaults:
        _defaults_make_optional(read)
    return read


def _one_of_as_any_of(node: Any) -> Any:
    """Read the spec's `oneOf` as `anyOf`, which is what Metabase means by it.

    Metabase generates the spec from Malli schemas and writes Malli's `:or` (the first matching
    branch wins) as `oneOf`, whose JSON Schema meaning is "exactly one". The two differ when
    branches overlap; in this spec they do, e.g. a parameter target's `dimension` branch is `{}`,
    which matches anything, so under a literal `oneOf` no parameter target could ever be valid.
    """
    if isinstance(node, dict):
        return {("anyOf" if key == "oneOf" else key): _one_of_as_any_of(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_one_of_as_any_of(item) for item in node]
    return node


def _without_null_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's `anyOf: [X, null]` read as X.

    Text in a path or query string is never JSON null, and openapi-core picks how to decode a
    parameter (e.g. repeated keys as an array) from its schema's own `type`, which the `anyOf` hides.
    """
    branches = schema.get("anyOf", [])
    kept = [branch for branch in branches if branch != _NULL]
    if len(branches) != 2 or len(kept) != 1:
        return schema
    return {key: value for key, value in schema.items() if key != "anyOf"} | kept[0]


def _defaults_make_optional(node: Any) -> None:
    """Drops from every object's `required` the properties that have a default (Metabase fills them in)."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict) and isinstance(node.get("required"), list):
            node["required"] = [name for name in node["required"] if "default" not in properties.get(name, {})]
        for value in node.values():
            _defaults_make_optional(value)
    elif isinstance(node, list):
        for item in node:
            _defaults_make_optional(item)


# ------------------------------------------------------------------------------------ error messages


def _describe(error: Exception) -> list[str]:
    """openapi-core's error as problems naming the parameter or body and what is wrong with it."""
    cause = error.__cause__
    if isinstance(error, ParameterValidationError):
        label = f"{error.location} parameter {error.name!r}"
    elif isinstance(error, RequestBodyValidationError):
        label = "request body"
        if isinstance(cause, MediaTypeNotFound):
            return [f"request body must be sent with Content-Type: application/json (got {cause.mimetype!r})"]
        if isinstance(cause, MediaTypeDeserializeError):
            return ["request body is not valid JSON"]
    else:
        return [str(error)]
    if isinstance(cause, InvalidSchemaValue):
        return [_describe_schema_error(label, schema_error) for schema_error in cause.schema_errors]
    if isinstance(cause, CastError):
        return [f"{label}: {cause.value!r} is not of type {cause.type!r}"]
    return [f"{label}: {cause or error}"]


def _describe_schema_error(label: str, error: ValidationError) -> str:
    # A failed anyOf says little by itself; best_match digs into the branch that came closest.
    deepest = best_match([error]) or error
    where = deepest.json_path if deepest.json_path != "$" else ""
    message = deepest.message
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "..."
    return f"{label}{' ' + where if where else ''}: {message}"


def json_or_none(raw_body: bytes) -> Any:
    """The body as JSON, or None when there is none or it is not JSON."""
    try:
        return json.loads(raw_body) if raw_body.strip() else None
    except ValueError:
        return None
