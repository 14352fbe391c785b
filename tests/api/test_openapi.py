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


def test_openapi_lists_both_paths(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Shelfguard API"
    assert schema["info"]["version"] == "1"
    assert set(schema["paths"]) == {"/api/v1/search", "/api/v1/records/{control_number}"}
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
