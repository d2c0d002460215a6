"""/api/docs: the OpenAPI document as an HTML reference, served by us with nothing from elsewhere."""

from __future__ import annotations

import html as html_lib
import re

import orjson

from adsvc.status.apidocs import anchor, build_reference, notes, type_parts


async def _page(client) -> str:
    response = await client.get("/api/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    return await response.text()


async def test_docs_page_lists_every_operation_of_the_document(client):
    document = orjson.loads(await (await client.get("/api/openapi.json")).read())
    page = await _page(client)
    operations = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]
    assert len(operations) > 50
    for path, method, op in operations:
        match = re.search(
            rf'<article class="op" id="{anchor("op", op["operationId"])}".*?</article>', page, flags=re.DOTALL
        )
        assert match, op["operationId"]
        block = html_lib.unescape(match.group(0).replace("<wbr>", ""))
        assert f">{method.upper()}</span>" in block and f">{path}</code>" in block, op["operationId"]
        assert op["summary"] in block
        for status in op["responses"]:
            assert f">{status}</span>" in block, (op["operationId"], status)
        for parameter in op.get("parameters", []):
            assert f"<code>{parameter['name']}</code>" in block, (op["operationId"], parameter["name"])


async def test_docs_page_states_auth_body_fields_and_errors(client):
    page = html_lib.unescape(await _page(client))
    login = re.search(r'id="op-auth-login".*?</article>', page, flags=re.DOTALL).group(0)
    assert "none (public)" in login
    assert 'depth-0">email</code>' in login and 'depth-0">password</code>' in login
    assert "Retry-After" in login and '<a href="#schema-LoginIn">LoginIn</a>' in login
    disable = re.search(r'id="op-admin-disable-user".*?</article>', page, flags=re.DOTALL).group(0)
    assert "bearer token of an administrator" in disable and ">403</span>" in disable
    me = re.search(r'id="op-auth-me".*?</article>', page, flags=re.DOTALL).group(0)
    assert "<dd>bearer token</dd>" in me


async def test_every_schema_link_on_the_docs_page_has_its_target(client):
    page = await _page(client)
    targets = set(re.findall(r'\bid="([^"]+)"', page))
    links = set(re.findall(r'href="#([^"]+)"', page))
    assert links and links <= targets, sorted(links - targets)[:10]


async def test_docs_page_loads_nothing_from_elsewhere_and_runs_no_script(client):
    response = await client.get("/api/docs")
    page = await response.text()
    assert "<script" not in page and not re.search(r"<[^>]+\son[a-z]+=", page)  # no script, no handler attribute
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


async def test_docs_page_is_linked_from_every_page(client):
    assert 'href="/api/docs"' in await (await client.get("/status")).text()


def test_types_name_their_schemas_as_links_and_nullable_unions():
    assert [(p.text, p.ref) for p in type_parts({"type": "array", "items": {"$ref": "#/components/schemas/X"}})] == [
        ("array of ", None), ("X", "X"),
    ]  # fmt: skip
    assert "".join(p.text for p in type_parts({"anyOf": [{"type": "string"}, {"type": "null"}]})) == "string or null"
    assert "".join(p.text for p in type_parts({"enum": ["a", "b"]})) == 'one of "a", "b"'


def test_notes_state_bounds_patterns_and_defaults_but_not_the_nul_rule():
    found = notes({"type": "integer", "minimum": 1, "maximum": 500, "default": 50, "not": {"pattern": "\\x00"}})
    assert found == (">= 1", "<= 500", "default 50")
    assert notes({"type": "string", "pattern": "^a$"}) == ("pattern ^a$",)


def test_reference_nests_inline_objects_and_expands_a_referenced_body():
    document = {
        "info": {"title": "t", "version": "1"},
        "paths": {"/x": {"post": {
            "operationId": "make-x", "summary": "Make", "tags": ["things"], "security": [],
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}},
            "responses": {"201": {"description": "Created"}},
        }}},
        "components": {"schemas": {"In": {"type": "object", "required": ["a"], "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
        }}}},
    }  # fmt: skip
    reference = build_reference(document)
    (op,) = reference.operations
    assert op.body is not None
    assert [(row.name, row.depth, row.required) for row in op.body.fields] == [("a", 0, True), ("a.b", 1, False)]
    assert [schema.name for schema in reference.schemas] == ["In"]
