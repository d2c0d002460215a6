"""The OpenAPI document turned into what the /api/docs page shows: tags, operations, parameters, bodies, responses and
schemas as rows of plain text and links. No I/O."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

_REF_PREFIX = "#/components/schemas/"
_ANCHOR_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# every string input refuses NUL: said once on the page, not on every field
_NO_NUL = {"pattern": "\\x00"}
MAX_DEPTH = 4
_METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}
_AUTH_LABELS = {
    "public": "none (public)",
    "user": "bearer token",
    "admin": "bearer token of an administrator",
    "api_key": "API key (X-API-Key header)",
}


def anchor(kind: str, name: str) -> str:
    return f"{kind}-{_ANCHOR_UNSAFE.sub('-', name)}"


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a type: text, and the schema it names when it is a link."""

    text: str
    ref: str | None = None

    @property
    def href(self) -> str | None:
        return None if self.ref is None else "#" + anchor("schema", self.ref)


@dataclass(frozen=True, slots=True)
class FieldRow:
    name: str
    depth: int
    type: tuple[Part, ...]
    required: bool
    notes: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class SchemaView:
    """A schema as a type line, its rules, and (for an object) one row per field, nested objects indented."""

    type: tuple[Part, ...]
    notes: tuple[str, ...]
    description: str
    fields: tuple[FieldRow, ...]


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str
    required: bool
    type: tuple[Part, ...]
    notes: tuple[str, ...]
    description: str
    fields: tuple[FieldRow, ...]  # an exploded object parameter: its fields are the real query parameters


@dataclass(frozen=True, slots=True)
class Response:
    status: str
    description: str
    media_type: str | None
    schema: SchemaView | None
    retry_after: bool


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    description: tuple[str, ...]  # paragraphs
    auth: str
    parameters: tuple[Parameter, ...]
    body: SchemaView | None
    responses: tuple[Response, ...]  # the successful ones and any with their own schema, with it expanded
    errors: tuple[Response, ...]  # the Error-shaped ones

    @property
    def anchor(self) -> str:
        return anchor("op", self.operation_id)


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    operations: tuple[Operation, ...]

    @property
    def anchor(self) -> str:
        return anchor("tag", self.name)


@dataclass(frozen=True, slots=True)
class NamedSchema:
    name: str
    view: SchemaView

    @property
    def anchor(self) -> str:
        return anchor("schema", self.name)


@dataclass(frozen=True, slots=True)
class Reference:
    title: str
    version: str
    description: str
    tags: tuple[Tag, ...]
    schemas: tuple[NamedSchema, ...]

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(op for tag in self.tags for op in tag.operations)


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref[len(_REF_PREFIX) :] if isinstance(ref, str) and ref.startswith(_REF_PREFIX) else None


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _without_null(branches: list[Any]) -> tuple[list[dict[str, Any]], bool]:
    kept = [branch for branch in branches if isinstance(branch, dict) and branch.get("type") != "null"]
    return kept, len(kept) != len(branches)


def _join(alternatives: list[tuple[Part, ...]], word: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    for index, alternative in enumerate(alternatives):
        if index:
            parts.append(Part(f" {word} "))
        parts.extend(alternative)
    return tuple(parts)


def type_parts(schema: Any) -> tuple[Part, ...]:
    """A schema's type in words, naming referenced schemas as links: `array of CampaignOut`, `string or null`."""
    if not isinstance(schema, dict) or not schema:
        return (Part("any"),)
    name = _ref_name(schema)
    if name is not None:
        return (Part(name, name),)
    if "const" in schema:
        return (Part(_literal(schema["const"])),)
    if "enum" in schema:
        return (Part("one of " + ", ".join(_literal(value) for value in schema["enum"])),)
    for keyword, word in (("oneOf", "or"), ("anyOf", "or")):
        if keyword in schema:
            kept, nullable = _without_null(schema[keyword])
            alternatives = [type_parts(branch) for branch in kept]
            if nullable:
                alternatives.append((Part("null"),))
            return _join(alternatives, word) if alternatives else (Part("null"),)
    if "allOf" in schema and "type" not in schema and "properties" not in schema:
        return _join([type_parts(branch) for branch in schema["allOf"]], "and")
    kind = schema.get("type")
    if isinstance(kind, list):
        return _join([(Part(str(each)),) for each in kind], "or")
    if kind == "array":
        return (Part("array of "), *type_parts(schema.get("items", {})))
    if kind == "object" or "properties" in schema:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not schema.get("properties"):
            return (Part("map of string to "), *type_parts(extra))
        return (Part("object"),)
    if kind is None:
        return (Part("any"),)
    fmt = schema.get("format")
    return (Part(f"{kind} ({fmt})" if fmt else str(kind)),)


def notes(schema: Any) -> tuple[str, ...]:
    """The rules a schema states besides its type: bounds, lengths, patterns, defaults, conditions."""
    if not isinstance(schema, dict):
        return ()
    found: list[str] = []
    for keyword, label in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
        ("minLength", "min length"), ("maxLength", "max length"), ("minItems", "min items"),
        ("maxItems", "max items"), ("minProperties", "min properties"), ("maxProperties", "max properties"),
        ("multipleOf", "multiple of"),
    ):  # fmt: skip
        if keyword in schema:
            found.append(f"{label} {_literal(schema[keyword])}")
    if schema.get("uniqueItems"):
        found.append("unique items")
    if "pattern" in schema:
        found.append(f"pattern {schema['pattern']}")
    negated = schema.get("not")
    if isinstance(negated, dict) and negated != _NO_NUL:
        found.append("not " + "".join(part.text for part in type_parts(negated)))
    if "default" in schema:
        found.append(f"default {_literal(schema['default'])}")
    if schema.get("additionalProperties") is False and schema.get("properties"):
        found.append("no other fields")
    for field, needs in (schema.get("dependentRequired") or {}).items():
        found.append(f"{field} requires {', '.join(needs)}")
    if "discriminator" in schema:
        found.append(f"chosen by its {schema['discriminator'].get('propertyName', 'type')} field")
    conditions = [branch for branch in schema.get("allOf", []) if isinstance(branch, dict) and "if" in branch]
    if "if" in schema or conditions:
        found.append("conditional rules: see the description")
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        if isinstance(branch, dict) and "$ref" not in branch:
            found.extend(note for note in notes(branch) if note not in found)
    return tuple(found)


def _inline_object(schema: Any) -> dict[str, Any] | None:
    """The object whose fields a row expands: itself, its items, or its one non-null branch; never a $ref."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return None
    if schema.get("properties"):
        return schema
    if schema.get("type") == "array":
        return _inline_object(schema.get("items"))
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        kept, _ = _without_null(branches)
        if len(kept) == 1:
            return _inline_object(kept[0])
    return None


def _description(schema: Any) -> str:
    return " ".join(str(schema.get("description", "")).split()) if isinstance(schema, dict) else ""


def field_rows(schema: dict[str, Any], *, prefix: str = "", depth: int = 0) -> tuple[FieldRow, ...]:
    rows: list[FieldRow] = []
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        rows.append(
            FieldRow(
                name=prefix + name, depth=depth, type=type_parts(prop), required=name in required,
                notes=notes(prop), description=_description(prop),
            )
        )  # fmt: skip
        nested = _inline_object(prop)
        if nested is not None and depth + 1 < MAX_DEPTH:
            marker = "[]." if isinstance(prop, dict) and prop.get("type") == "array" else "."
            rows.extend(field_rows(nested, prefix=prefix + name + marker, depth=depth + 1))
    return tuple(rows)


def schema_view(schema: Any, components: dict[str, Any]) -> SchemaView:
    """A schema as shown: a reference names its schema (a link) and shows that schema's fields."""
    if not isinstance(schema, dict):
        return SchemaView(type=type_parts(schema), notes=(), description="", fields=())
    target = schema
    name = _ref_name(schema)
    if name is not None and isinstance(components.get(name), dict):
        target = components[name]
    return SchemaView(
        type=type_parts(schema),
        notes=notes(target),
        description=_description(target),
        fields=field_rows(target) if target.get("properties") else (),
    )


def _parameter(raw: dict[str, Any], components: dict[str, Any]) -> Parameter:
    schema = raw.get("schema", {})
    exploded = raw.get("explode") and isinstance(schema, dict) and schema.get("properties")
    return Parameter(
        name=str(raw.get("name", "")),
        location=str(raw.get("in", "")),
        required=bool(raw.get("required")),
        type=type_parts(schema),
        notes=notes(schema),
        description=_description(raw),
        fields=field_rows(schema) if exploded else (),
    )


def _response(status: str, raw: dict[str, Any], components: dict[str, Any]) -> Response:
    content = raw.get("content") or {}
    media_type = next(iter(content), None)
    schema = content[media_type].get("schema") if media_type else None
    return Response(
        status=status,
        description=str(raw.get("description", "")),
        media_type=media_type,
        schema=None if schema is None else schema_view(schema, components),
        retry_after="Retry-After" in (raw.get("headers") or {}),
    )


def _auth(operation: dict[str, Any]) -> str:
    declared = operation.get("x-adsvc-auth")
    if isinstance(declared, str) and declared in _AUTH_LABELS:
        return _AUTH_LABELS[declared]
    security = operation.get("security")
    if security == []:
        return _AUTH_LABELS["public"]
    if security and "apiKeyAuth" in security[0]:
        return _AUTH_LABELS["api_key"]
    return _AUTH_LABELS["user"]


def _is_error(raw: dict[str, Any]) -> bool:
    for media in (raw.get("content") or {}).values():
        if media.get("schema") == {"$ref": _REF_PREFIX + "Error"}:
            return True
    return False


def _operation(method: str, path: str, raw: dict[str, Any], components: dict[str, Any]) -> Operation:
    responses: list[Response] = []
    errors: list[Response] = []
    for status, answer in sorted((raw.get("responses") or {}).items()):
        (errors if _is_error(answer) else responses).append(_response(status, answer, components))
    body = None
    request_body = raw.get("requestBody") or {}
    for media in (request_body.get("content") or {}).values():
        body = schema_view(media.get("schema", {}), components)
        break
    description = str(raw.get("description", ""))
    paragraphs = tuple(" ".join(text.split()) for text in description.split("\n\n") if text.strip())
    if body is not None and body.description in paragraphs:  # the body's rules are the operation's: said once
        body = dataclasses.replace(body, description="")
    return Operation(
        method=method.upper(),
        path=path,
        operation_id=str(raw.get("operationId") or f"{method}-{path}"),
        summary=str(raw.get("summary", "")),
        description=paragraphs,
        auth=_auth(raw),
        parameters=tuple(_parameter(parameter, components) for parameter in raw.get("parameters", [])),
        body=body,
        responses=tuple(responses),
        errors=tuple(errors),
    )


def build_reference(document: dict[str, Any]) -> Reference:
    """Every operation of the document under its first tag (tags in first-seen order, operations by path and
    method), and every component schema by name."""
    components: dict[str, Any] = (document.get("components") or {}).get("schemas") or {}
    by_tag: dict[str, list[Operation]] = {}
    for path, item in (document.get("paths") or {}).items():
        for method, raw in sorted(item.items(), key=lambda pair: _METHOD_ORDER.get(pair[0], 9)):
            if method not in _METHOD_ORDER or not isinstance(raw, dict):
                continue
            tag = (raw.get("tags") or ["other"])[0]
            by_tag.setdefault(str(tag), []).append(_operation(method, path, raw, components))
    info = document.get("info") or {}
    return Reference(
        title=str(info.get("title", "API")),
        version=str(info.get("version", "")),
        description=str(info.get("description", "")),
        tags=tuple(Tag(name=name, operations=tuple(operations)) for name, operations in by_tag.items()),
        schemas=tuple(
            NamedSchema(name=name, view=schema_view(schema, components)) for name, schema in sorted(components.items())
        ),
    )
