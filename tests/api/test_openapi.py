def resolve(schema: dict, ref: str) -> dict:
    node = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


STAFF_ERRORS = {"400", "401", "403", "429"}


def test_openapi_lists_every_path(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Shelfguard API"
    assert schema["info"]["version"] == "1"
    assert set(schema["paths"]) >= {
        "/api/v1/search",
        "/api/v1/records/{control_number}",
        "/api/v1/items/{barcode}",
    }
    assert set(schema["paths"]["/api/v1/search"]["get"]["responses"]) == {"200", "400"}
    assert set(schema["paths"]["/api/v1/records/{control_number}"]["get"]["responses"]) == {
        "200",
        "404",
    }


def test_openapi_references_all_resolve(client):
    schema = client.get("/api/v1/openapi.json").json()
    for ref in refs(schema):
        assert isinstance(resolve(schema, ref), dict), ref


def test_no_docs_page_that_would_load_from_a_cdn(client):
    assert client.get("/api/v1/docs").status_code == 404


def test_staff_operations_declare_the_bearer_scheme_and_their_refusals(client):
    schema = client.get("/api/v1/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert len(schemes) == 1
    ((name, scheme),) = schemes.items()
    assert scheme == {"type": "http", "scheme": "bearer"}
    public = {"/api/v1/search", "/api/v1/records/{control_number}"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in public:
                assert "security" not in operation, (method, path)
                continue
            assert operation["security"] == [{name: []}], (method, path)
            responses = set(operation["responses"])
            assert responses >= STAFF_ERRORS, (method, path)
            for code in STAFF_ERRORS:
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert resolve(schema, body["$ref"])["required"] == ["code", "detail"]


def test_item_operation_lists_its_answers(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/items/{barcode}"]["get"]
    assert set(operation["responses"]) == {"200", "404"} | STAFF_ERRORS
    item = resolve(
        schema, operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert set(item["properties"]) == {
        "barcode",
        "control_number",
        "title",
        "branch_code",
        "status",
        "item_type",
        "call_number",
        "location",
    }
