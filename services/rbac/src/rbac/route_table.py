"""The in-process route table the gateway decision matches requests against.

Templates use Starlette's syntax: `{name}` matches one non-empty segment, `{name:path}` the rest
of the path. When several templates match, the most specific wins: at the first segment where
they differ a literal beats a parameter, and a one-segment parameter beats a `:path` tail.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from common.access import Access
from common.allowed_methods import HTTP_METHODS

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}")
# Starlette's convertors; an unknown one matches nothing (fail closed).
_CONVERTORS = {
    "str": "[^/]+",
    "int": "[0-9]+",
    "float": r"[0-9]+(\.[0-9]+)?",
    "uuid": "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}
# Segment kinds, ordered from most to least specific.
_LITERAL, _SEGMENT_PARAM, _PATH_PARAM, _END = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class RouteInfo:
    service: str
    method: str
    path: str
    permission: str
    access: Access


@dataclass(slots=True)
class _Template:
    route: RouteInfo
    kinds: tuple[int, ...]
    patterns: tuple[re.Pattern[str] | str, ...]
    # Templates with a `:path` parameter span segments: matched as a whole, like Starlette does.
    spanning: re.Pattern[str] | None

    def matches(self, segments: list[str]) -> bool:
        if self.spanning is not None:
            return self.spanning.fullmatch("/".join(segments)) is not None
        if len(segments) != len(self.kinds):
            return False
        for pattern, segment in zip(self.patterns, segments, strict=True):
            if isinstance(pattern, str):
                if segment != pattern:
                    return False
            elif pattern.fullmatch(segment) is None:
                return False
        return True

    def rank(self) -> tuple[int, ...]:
        # The end of a template ranks below any segment, so `/a/{p:path}/meta` beats `/a/{p:path}`.
        return (*self.kinds, _END)


def _segment_regex(segment: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    for param in _PARAM.finditer(segment):
        parts.append(re.escape(segment[position : param.start()]))
        parts.append(f"(?:{_CONVERTORS.get(param.group(2) or 'str', '(?!)')})")
        position = param.end()
    parts.append(re.escape(segment[position:]))
    return re.compile("".join(parts))


def _compile(route: RouteInfo) -> _Template:
    kinds: list[int] = []
    patterns: list[re.Pattern[str] | str] = []
    sources: list[str] = []
    stripped = route.path.strip("/")
    for segment in stripped.split("/") if stripped else []:
        if _PARAM.search(segment) is None:
            kinds.append(_LITERAL)
            patterns.append(segment)
            sources.append(re.escape(segment))
        elif _PARAM.fullmatch(segment) and segment.endswith(":path}"):
            kinds.append(_PATH_PARAM)
            patterns.append(segment)
            sources.append(".*")
        else:
            kinds.append(_SEGMENT_PARAM)
            regex = _segment_regex(segment)
            patterns.append(regex)
            sources.append(regex.pattern)
    spanning = re.compile("/".join(sources)) if _PATH_PARAM in kinds else None
    return _Template(route, tuple(kinds), tuple(patterns), spanning)


@dataclass(slots=True)
class _ServiceRoutes:
    exact: dict[tuple[str, str], RouteInfo] = field(default_factory=dict)
    templates: list[_Template] = field(default_factory=list)


class RouteTable:
    """Immutable once built; the decision swaps in a new table on every registry change."""

    def __init__(self, routes: Iterable[RouteInfo]) -> None:
        self._services: dict[str, _ServiceRoutes] = {}
        for route in routes:
            table = self._services.setdefault(route.service, _ServiceRoutes())
            template = _compile(route)
            if all(kind == _LITERAL for kind in template.kinds):
                table.exact[(route.method, _canonical(route.path))] = route
            else:
                table.templates.append(template)
        for table in self._services.values():
            table.templates.sort(key=_Template.rank)

    def __len__(self) -> int:
        return sum(len(t.exact) + len(t.templates) for t in self._services.values())

    def has_service(self, service: str) -> bool:
        return service in self._services

    def match(self, service: str, method: str, path: str) -> RouteInfo | None:
        """The route `method path` reaches in `service`; HEAD falls back to GET like Starlette."""
        found = self._match(service, method, path)
        if found is None and method == "HEAD":
            found = self._match(service, "GET", path)
        return found

    def methods_at(self, service: str, path: str) -> list[str]:
        """Every method `path` is served with, for a 405's `Allow`: HEAD beside GET (Starlette
        serves it), in the order of RFC 9110, as the services' own 405s list them."""
        table = self._services.get(service)
        if table is None:
            return []
        served = {method for (method, p) in table.exact if p == path}
        segments = _segments(path)
        served.update(t.route.method for t in table.templates if t.matches(segments))
        if "GET" in served:
            served.add("HEAD")
        return [method for method in HTTP_METHODS if method in served]

    def _match(self, service: str, method: str, path: str) -> RouteInfo | None:
        table = self._services.get(service)
        if table is None:
            return None
        exact = table.exact.get((method, path))
        if exact is not None:
            return exact
        segments = _segments(path)
        for template in table.templates:
            if template.route.method == method and template.matches(segments):
                return template.route
        return None


def _canonical(path: str) -> str:
    stripped = path.rstrip("/")
    return stripped or "/"


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []
