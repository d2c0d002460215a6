"""Reading an HTML form into the same pydantic model the JSON API validates its body with, and turning the API's
errors into messages next to the form's fields."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from adsvc.errors import ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)
FieldErrors = dict[str, str]

# form fields that are the page's plumbing, not the model's input
_PLUMBING = frozenset({"_csrf"})


async def form_values(request: web.Request) -> dict[str, str]:
    """The form's fields (the last value of a repeated one), NUL characters refused as the API refuses them."""
    data = await request.post()
    values: dict[str, str] = {}
    for key, value in data.items():
        if key in _PLUMBING or not isinstance(value, str):
            continue
        if "\x00" in value or "\x00" in key:
            raise ValidationFailed.field(("form", key), "must not contain NUL characters", kind="nul_character")
        values[key] = value
    return values


def parse(model: type[ModelT], values: dict[str, Any]) -> tuple[ModelT | None, FieldErrors]:
    """The model, or None and one message per field at fault (a blank optional field counts as left out)."""
    cleaned = {key: value for key, value in values.items() if not (isinstance(value, str) and value.strip() == "")
               or (key in model.model_fields and model.model_fields[key].is_required())}  # fmt: skip
    try:
        return model.model_validate(cleaned), {}
    except ValidationError as exc:
        return None, {".".join(str(part) for part in err["loc"]) or "form": err["msg"] for err in exc.errors()}


def field_errors(exc: ValidationFailed) -> FieldErrors:
    """An API ValidationFailed's details as field -> message (the `body` / `query` prefix dropped)."""
    errors: FieldErrors = {}
    for detail in exc.details or []:
        loc = [str(part) for part in detail.get("loc", []) if part not in ("body", "query", "form")]
        errors[".".join(loc) or "form"] = str(detail.get("msg", exc.message))
    return errors or {"form": exc.message}
