"""Permission patterns a role may grant: exact codes `{service}:{METHOD}:{path}` or `*` patterns.

Grammar (checked on write, so a typo is a 422 rather than a silent no-grant):
- `*` - everything;
- `{service}:*` - every route of a service;
- `{service}:{METHOD}:*` or `{service}:*:*` - every route of a service for a method (or any);
- `{service}:{METHOD|*}:{path}` - a path template; a trailing `*` makes it a prefix
  (`storage:GET:/files/*`). `*` appears nowhere else.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SERVICE = r"[a-z][a-z0-9_-]{0,63}"
_METHOD = r"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|\*)"
_PATH = r"/[A-Za-z0-9._~{}:/@!$&'()+,;=%-]{0,500}\*?"
_VALID = re.compile(rf"^(?:\*|{_SERVICE}:\*|{_SERVICE}:{_METHOD}:(?:\*|{_PATH}))$")
# The grammar as the OpenAPI states it (the check above enforces it, with its own error code).
PATTERN_REGEX = _VALID.pattern


class InvalidPatternError(ValueError):
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        super().__init__(
            f"{pattern!r} is not a permission code or pattern "
            "(`service:METHOD:/path`, `service:*`, `service:METHOD:*`, `service:METHOD:/prefix*`)"
        )


def validate_pattern(pattern: str) -> str:
    """The pattern itself when it follows the grammar; raises `InvalidPatternError` otherwise."""
    if not isinstance(pattern, str) or _VALID.fullmatch(pattern) is None:
        raise InvalidPatternError(str(pattern))
    return pattern


def _is_valid(pattern: str) -> bool:
    return _VALID.fullmatch(pattern) is not None


def is_pattern(pattern: str) -> bool:
    return "*" in pattern


class Grants:
    """A user's granted codes and patterns, answering `allows(code)` in O(1) once warm."""

    __slots__ = ("_decisions", "_exact", "_regex", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = frozenset(patterns)
        self._exact = frozenset(p for p in self.patterns if not is_pattern(p))
        wildcards = sorted(p for p in self.patterns if is_pattern(p))
        self._regex = re.compile("|".join(_as_regex(p) for p in wildcards)) if wildcards else None
        # Permission codes come from the bounded route table, so this memo stays bounded.
        self._decisions: dict[str, bool] = {}

    def covers(self, pattern: str) -> bool:
        """Whether one granted pattern alone covers everything `pattern` does (see `covers`).

        A pattern the grammar no longer accepts, granted or asked about, is never covered and
        covers nothing (fail closed).
        """
        if not _is_valid(pattern):
            return False
        return any(_is_valid(granted) and covers(granted, pattern) for granted in self.patterns)

    def allows(self, code: str) -> bool:
        decision = self._decisions.get(code)
        if decision is None:
            decision = code in self._exact or (
                self._regex is not None and self._regex.fullmatch(code) is not None
            )
            self._decisions[code] = decision
        return decision


def _as_regex(pattern: str) -> str:
    parts = pattern.split(":", 2)
    if len(parts) == 3 and parts[1] == "*":
        # A method wildcard stays inside the method field.
        return f"(?:{re.escape(parts[0])}:[A-Z]+:{_glob(parts[2])})"
    return f"(?:{_glob(pattern)})"


def _glob(text: str) -> str:
    return ".*".join(re.escape(part) for part in text.split("*"))


def pattern_matches(pattern: str, code: str) -> bool:
    return Grants([pattern]).allows(code)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a valid pattern matches: codes of `service` (None: any), `method` (None: any) and a
    path equal to `path`, or starting with it when `prefix`."""

    service: str | None
    method: str | None
    path: str
    prefix: bool


def _scope(pattern: str) -> _Scope:
    if pattern == "*":
        return _Scope(None, None, "", prefix=True)
    service, _, rest = validate_pattern(pattern).partition(":")
    if rest == "*":
        return _Scope(service, None, "", prefix=True)
    method, _, path = rest.partition(":")
    chosen = None if method == "*" else method
    if path.endswith("*"):
        return _Scope(service, chosen, path[:-1], prefix=True)
    return _Scope(service, chosen, path, prefix=False)


def covers(outer: str, inner: str) -> bool:
    """Whether every permission code `inner` matches is matched by `outer` as well.

    Decided on the patterns themselves, not on today's routes: `storage:GET:*` does not cover
    `storage:*` even while storage serves only GETs, as a route added tomorrow would widen it.
    `*` in the method field covers every method, so only another method wildcard covers it.
    """
    held, wanted = _scope(outer), _scope(inner)
    if held.service is not None and held.service != wanted.service:
        return False
    if held.method is not None and held.method != wanted.method:
        return False
    if held.prefix:
        return wanted.path.startswith(held.path)
    return not wanted.prefix and wanted.path == held.path
