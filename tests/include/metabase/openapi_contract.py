"""Checks HTTP requests against Metabase's OpenAPI document (the subset in ../shared/metabase).

The fake Metabase server asks `OpenApiContract.check(...)` about every request it receives; anything the
spec does not allow comes back as a list of human-readable problems.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SPEC_PATH = PROJECT_ROOT.parent / "shared" / "metabase" / "openapi-subset.json"

# The whole spec is registered under this URI so "#/components/schemas/..." refs resolve inside it.
_SPEC_URI = "urn:metabase:openapi-subset"
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Parameter:
    """One declared path or query parameter of an operation."""

    name: str
    location: str  # "path" or "query"
    required: bool
    has_default: bool
    schema: dict[str, Any]
    pointer: str  # JSON pointer to its schema inside the spec


@dataclass(frozen=True)
class Operation:
    """One method + path template from the spec, e.g. GET /api/card/{id}."""

    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: tuple[Parameter, ...]
    body_pointer: str | None
    body_schema: dict[str, Any] | None

    @property
    def path_parameter_names(self) -> list[str]:
        return re.findall(r"\{([^}]+)\}", self.template)

    def parameters_in(self, location: str) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters if p.location == location}


@dataclass
class CheckResult:
    """What the contract says about one request: the matched operation, decoded inputs and problems."""

    operation: Operation | None = None
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    problems: list[str] = field(default_factory=list)


class OpenApiContract:
    """Matches requests to spec operations and validates their parameters and JSON bodies.

    `apply_defaults=False` follows the spec literally: Metabase's generator marks a parameter or body key
    `required` even when it has a `default`. With `apply_defaults=True` such keys may be omitted, which is
    what the running server accepts (its decoder fills in defaults before validating).
    """

    def __init__(self, spec: dict[str, Any], *, apply_defaults: bool = False) -> None:
        self.spec = spec
        self.apply_defaults = apply_defaults
        self.operations = _operations_from_spec(spec)
        self._registry = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(spec))
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def from_file(cls, path: Path | str = DEFAULT_SPEC_PATH, *, apply_defaults: bool = False) -> OpenApiContract:
        return cls(_load_spec(str(path)), apply_defaults=apply_defaults)

    # ----------------------------------------------------------------------------------------- matching

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], str | None]:
        """Finds the operation for method + path; returns (operation, raw path params, problem)."""
        normalized = _strip_trailing_slash(path)
        path_matches = [(op, m) for op in self.operations if (m := op.pattern.fullmatch(normalized))]
        if not path_matches:
            return None, {}, f"undeclared path {path!r}"
        for operation, found in path_matches:
            if operation.method == method.upper():
                raw = dict(zip(operation.path_parameter_names, map(unquote, found.groups()), strict=True))
                return operation, raw, None
        declared = sorted({op.method for op, _ in path_matches})
        return None, {}, f"method {method.upper()} is not declared for {path!r} (declared: {', '.join(declared)})"

    # ----------------------------------------------------------------------------------------- checking

    def check(
        self, method: str, path: str, query: dict[str, list[str]], raw_body: bytes, content_type: str
    ) -> CheckResult:
        operation, raw_path_params, problem = self.match(method, path)
        if operation is None:
            return CheckResult(problems=[problem or "no matching operation"])
        result = CheckResult(operation=operation)
        result.path_params = self._checked_path_params(operation, raw_path_params, result.problems)
        result.query = self._checked_query(operation, query, result.problems)
        result.body = self._checked_body(operation, raw_body, content_type, result.problems)
        return result

    def _checked_path_params(self, operation: Operation, raw: dict[str, str], problems: list[str]) -> dict[str, Any]:
        declared = operation.parameters_in("path")
        values = {}
        for name, text in raw.items():
            parameter = declared.get(name)
            if parameter is None:  # a template variable without a declaration: accept it as text
                values[name] = text
                continue
            values[name] = _coerce_scalar(text, parameter.schema)
            problems += self._schema_problems(parameter.pointer, values[name], f"path parameter {name!r}")
        return values

    def _checked_query(self, operation: Operation, query: dict[str, list[str]], problems: list[str]) -> dict[str, Any]:
        declared = operation.parameters_in("query")
        problems += [f"undeclared query parameter {name!r}" for name in query if name not in declared]
        problems += [
            f"missing required query parameter {p.name!r}"
            for p in declared.values()
            if p.name not in query and self._must_be_sent(p.required, p.has_default)
        ]
        values = {}
        for name, texts in query.items():
            parameter = declared.get(name)
            if parameter is None:
                continue
            label = f"query parameter {name!r}"
            if len(texts) > 1 and not _allows_type(parameter.schema, "array"):
                problems.append(f"{label} is repeated but its schema is not an array")
                continue
            values[name] = _coerce_query_value(texts, parameter.schema)
            problems += self._schema_problems(parameter.pointer, values[name], label)
        return values

    def _checked_body(self, operation: Operation, raw_body: bytes, content_type: str, problems: list[str]) -> Any:
        if operation.body_pointer is None:
            if raw_body.strip():
                problems.append(f"{operation.method} {operation.template} declares no request body, but one was sent")
            return None
        if not content_type.lower().startswith("application/json"):
            # Metabase only parses bodies sent as JSON; anything else reaches the endpoint as no body at all.
            problems.append(f"request body must be sent with Content-Type: application/json (got {content_type!r})")
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError as error:
            problems.append(f"request body is not valid JSON: {error}")
            return None
        if body is None:
            problems.append("request body is required (JSON)")
            return None
        checked = self._with_defaults(body, operation.body_schema or {})
        problems += self._schema_problems(operation.body_pointer, checked, "request body")
        return body

    def _with_defaults(self, body: Any, schema: dict[str, Any]) -> Any:
        """Fills top-level defaults the way Metabase's decoder does, when apply_defaults is on."""
        if not self.apply_defaults or not isinstance(body, dict):
            return body
        defaults = {k: s["default"] for k, s in schema.get("properties", {}).items() if "default" in s}
        return defaults | body

    def _must_be_sent(self, required: bool, has_default: bool) -> bool:
        return required and not (self.apply_defaults and has_default)

    def _schema_problems(self, pointer: str, instance: Any, label: str) -> list[str]:
        validator = self._validator(pointer)
        return [_describe_error(label, error) for error in validator.iter_errors(instance)]

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            schema = {"$ref": f"{_SPEC_URI}#{pointer}"}
            self._validators[pointer] = Draft202012Validator(schema, registry=self._registry)
        return self._validators[pointer]


# --------------------------------------------------------------------------------------------- spec reading


@cache
def _load_spec(path: str) -> dict[str, Any]:
    return _one_of_as_any_of(json.loads(Path(path).read_text()))


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


def _operations_from_spec(spec: dict[str, Any]) -> list[Operation]:
    operations = [
        _operation(spec, template, method, details)
        for template, path_item in spec["paths"].items()
        for method, details in path_item.items()
        if method in _HTTP_METHODS
    ]
    # Literal segments win over variables (e.g. /api/session/properties before a hypothetical /api/session/{id}).
    return sorted(operations, key=lambda op: (op.template.count("{"), op.template))


def _operation(spec: dict[str, Any], template: str, method: str, details: dict[str, Any]) -> Operation:
    base = f"/paths/{_escape_pointer(template)}/{method}"
    parameters = tuple(
        _parameter(spec, raw, f"{base}/parameters/{index}") for index, raw in enumerate(details.get("parameters", []))
    )
    body_pointer, body_schema = None, None
    json_body = details.get("requestBody", {}).get("content", {}).get("application/json")
    if json_body is not None:
        body_pointer = f"{base}/requestBody/content/application~1json/schema"
        body_schema = _resolve_local_ref(spec, json_body.get("schema", {}))
    return Operation(
        method=method.upper(),
        template=template,
        pattern=_template_pattern(template),
        parameters=parameters,
        body_pointer=body_pointer,
        body_schema=body_schema,
    )


def _parameter(spec: dict[str, Any], raw: dict[str, Any], pointer: str) -> Parameter:
    raw = _resolve_local_ref(spec, raw)
    schema = _resolve_local_ref(spec, raw.get("schema", {}))
    return Parameter(
        name=raw["name"],
        location=raw["in"],
        required=bool(raw.get("required", False)),
        has_default="default" in schema,
        schema=schema,
        pointer=f"{pointer}/schema",
    )


def _template_pattern(template: str) -> re.Pattern[str]:
    """/api/card/{id} -> ^/api/card/([^/]+)$, with any trailing slash dropped (Metabase accepts both)."""
    segments = _strip_trailing_slash(template).split("/")
    parts = ["([^/]+)" if re.fullmatch(r"\{[^}]+\}", s) else re.escape(s) for s in segments]
    return re.compile("/".join(parts))


def _strip_trailing_slash(path: str) -> str:
    return path.rstrip("/") or "/"


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolve_local_ref(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = spec
    for token in ref[2:].split("/"):
        target = target[token.replace("~1", "/").replace("~0", "~")]
    return target


# ------------------------------------------------------------------------------------ string coercion


def _schema_types(schema: dict[str, Any]) -> set[str]:
    """Every JSON type a schema can take, looking through oneOf/anyOf/allOf and const/enum values."""
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or [])
    for keyword in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(keyword, []):
            types |= _schema_types(sub)
    return types


def _allows_type(schema: dict[str, Any], json_type: str) -> bool:
    return json_type in _schema_types(schema)


def _array_items_schema(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "array":
        return schema.get("items", {})
    for keyword in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(keyword, []):
            if _allows_type(sub, "array"):
                return _array_items_schema(sub)
    return {}


def _coerce_query_value(texts: list[str], schema: dict[str, Any]) -> Any:
    """Repeated keys (models=card&models=dashboard) become a list when the schema takes an array."""
    if _allows_type(schema, "array"):
        items = _array_items_schema(schema)
        return [_coerce_scalar(text, items) for text in texts]
    return _coerce_scalar(texts[0], schema)


def _coerce_scalar(text: str, schema: dict[str, Any]) -> Any:
    """Turns query/path text into the JSON value the schema expects, as Metabase's string decoder does."""
    types = _schema_types(schema)
    if "integer" in types and _INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        return float(text)
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    return text


# ------------------------------------------------------------------------------------ error messages


def _describe_error(label: str, error: ValidationError) -> str:
    # A failed oneOf/anyOf says little by itself; best_match digs into the branch that came closest.
    deepest = best_match([error]) or error
    where = deepest.json_path if deepest.json_path != "$" else ""
    message = deepest.message
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "..."
    return f"{label}{' ' + where if where else ''}: {message}"
