"""Which registered route a forwarded request reaches, for URIs built to confuse the match."""

import pytest

from common.access import Access
from rbac.forwarded_path import AmbiguousPathError, parse_forwarded_uri
from rbac.route_table import RouteInfo, RouteTable


def route(service: str, method: str, path: str, access: Access = Access.PERMISSION) -> RouteInfo:
    return RouteInfo(service, method, path, f"{service}:{method}:{path}", access)


TABLE = RouteTable(
    [
        route("storage", "GET", "/files"),
        route("storage", "GET", "/files/{file_id}"),
        route("storage", "GET", "/files/{file_id}/download"),
        route("storage", "DELETE", "/files/{file_id}"),
        route("storage", "GET", "/files/stats"),
        route("storage", "GET", "/health", Access.PUBLIC),
        route("storage", "POST", "/uploads"),
        route("storage", "GET", "/objects/{key:path}"),
        route("storage", "GET", "/objects/{key:path}/meta"),
        route("scheduler", "GET", "/runs/{task_id}"),
        route("scheduler", "GET", "/items/{n:int}"),
        route("scheduler", "GET", "/export/{name}.csv"),
        route("rbac", "GET", "/"),
    ]
)

# (method, forwarded URI, the template it must reach, or None when no route may be granted)
CASES = [
    ("GET", "/storage/files", "/files"),
    ("GET", "/storage/files/", "/files"),
    ("GET", "/storage/files?limit=5&offset=0", "/files"),
    ("GET", "/storage/files/?x=/files/stats", "/files"),
    ("GET", "/storage/files#frag", "/files"),
    ("GET", "/storage/files/abc", "/files/{file_id}"),
    ("GET", "/storage/files/abc/", "/files/{file_id}"),
    ("GET", "/storage/files/stats", "/files/stats"),
    ("GET", "/storage/files/abc/download", "/files/{file_id}/download"),
    # The service decodes %2F before routing: this is the download route, not /files/{file_id}.
    ("GET", "/storage/files/abc%2Fdownload", "/files/{file_id}/download"),
    ("GET", "/storage/files/abc%2fdownload", "/files/{file_id}/download"),
    ("GET", "/storage/files/st%61ts", "/files/stats"),
    ("GET", "/storage/files/a%20b", "/files/{file_id}"),
    ("DELETE", "/storage/files/abc", "/files/{file_id}"),
    ("PUT", "/storage/files/abc", None),
    ("HEAD", "/storage/files/abc", "/files/{file_id}"),
    ("GET", "/storage/objects/a/b/c", "/objects/{key:path}"),
    ("GET", "/storage/objects/a/b/meta", "/objects/{key:path}/meta"),
    ("GET", "/scheduler/items/42", "/items/{n:int}"),
    ("GET", "/scheduler/items/forty-two", None),
    ("GET", "/scheduler/export/report.csv", "/export/{name}.csv"),
    ("GET", "/scheduler/export/report.txt", None),
    ("GET", "/rbac", "/"),
    ("GET", "/rbac/", "/"),
    ("GET", "/storage/files/abc/download/extra", None),
    ("GET", "/unknown/files", None),
    ("GET", "/Storage/files", None),
    ("GET", "/storage/FILES", None),
    ("GET", "/storage/files%3Fx", None),
    ("GET", "/storage/files/a%3Fb", "/files/{file_id}"),
]

AMBIGUOUS = [
    "/storage/files/../uploads",
    "/storage/files/%2e%2e/uploads",
    "/storage/files/%2E%2E",
    "/storage/files/abc%2F..%2Fstats",
    "/storage/./files",
    "/storage/files/%2e",
    "/storage//files",
    "//storage/files",
    "/storage/files//",
    "/storage/files/%2F",
    "/storage/files/a%00b",
    "/storage/files/a%0Ab",
    "/storage/files/%ff",
    "/storage/files/\u00e9",
    "/storage/files/a b",
    "storage/files",
    "",
    "/",
    "http://evil/storage/files",
]


@pytest.mark.parametrize(("method", "uri", "expected"), CASES)
def test_forwarded_uri_reaches_the_route_the_service_would_serve(
    method: str, uri: str, expected: str | None
) -> None:
    target = parse_forwarded_uri(uri)
    found = TABLE.match(target.service, method, target.path)
    assert (found.path if found else None) == expected


@pytest.mark.parametrize("uri", AMBIGUOUS)
def test_ambiguous_or_malformed_uri_is_refused(uri: str) -> None:
    with pytest.raises(AmbiguousPathError):
        parse_forwarded_uri(uri)


def test_methods_at_a_path_gather_every_route_serving_it_with_head_beside_get() -> None:
    assert TABLE.methods_at("storage", "/files/abc") == ["GET", "HEAD", "DELETE"]
    # A literal route and a template both serve /files/stats, as Starlette would route them.
    assert TABLE.methods_at("storage", "/files/stats") == ["GET", "HEAD", "DELETE"]
    assert TABLE.methods_at("storage", "/uploads") == ["POST"]
    assert TABLE.methods_at("storage", "/objects/a/b/meta") == ["GET", "HEAD"]
    assert TABLE.methods_at("storage", "/nothing") == []
    assert TABLE.methods_at("nowhere", "/files") == []
