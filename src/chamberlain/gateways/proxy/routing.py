"""From an original HTTP request to the resource and action of a check, by ``chamberlain.gateway.routes``.

A path is matched only in canonical form: a path with an empty, ``.`` or ``..`` segment, an encoded
slash, a path parameter (``;``, raw or encoded: Tomcat and Spring cut a segment there, so ``..;`` is a
dot segment and ``p1;x`` is ``p1`` to them), a double percent-encoding (``%2564``: ``d`` to a server that
decodes twice), or anything that does not decode as UTF-8 matches no route
(the upstream might read it differently), so it is denied; so is a URI with a fragment (``#``), a
request asking for another method (``X-HTTP-Method-Override`` and its kin, or ``_method`` in the
query), a query parameter given twice that a route reads (by name, or through a CEL attribute whose
expression names ``query``; ``;`` separates parameters too, and a name in another case is the same
name), and a header given twice that it reads (a name spelt with ``_`` counts as its ``-`` spelling; by
name, or named in a CEL attribute's expression; where the proxy joined repeats itself, as Envoy's gRPC
service does without ``encode_raw_headers``, chamberlain cannot tell). The first route that matches
decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from chamberlain import cel, strictjson
from chamberlain.caches import ENTRY_OVERHEAD, BoundedCache
from chamberlain.engine import glob
from chamberlain.engine.ruletable import key_matches
from chamberlain.exact import case_twins, inexact_integer
from chamberlain.gateways.proxy.contract import ProxyRequest
from chamberlain.gateways.proxy.settings import Route

MAX_QUERY_PARAMS = 100
#: Headers asking the upstream to read a request as another method (Express's method-override, ASP.NET,
#: Google's APIs); Rails, Laravel and Express also read the query parameter ``_method``.
METHOD_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")


class Unmapped(Exception):
    """The request cannot be turned into a check; the message says why (it is a 403)."""


@dataclass(frozen=True, slots=True)
class Mapped:
    """The check a request stands for."""

    route: str  # the route's template, e.g. "POST /invoices/{id}/pay"
    kind: str
    id: str
    action: str
    attr: dict[str, Any]
    #: The path parameters the action was made from (a route's ``action: "{op}"``), by name.
    action_params: tuple[tuple[str, str], ...] = ()


def segments_of(path: str) -> tuple[str, ...]:
    """The decoded segments of a canonical path; raises :class:`Unmapped` for any other path."""
    if not path.startswith("/"):
        raise Unmapped("the path does not start with /")
    if path == "/":
        return ()
    return tuple(canonical_segment(part) for part in path[1:].split("/"))


def canonical_segment(part: str) -> str:
    """One path segment, decoded; raises :class:`Unmapped` when it is not in canonical form."""
    if not part or "%2f" in part.lower() or "%5c" in part.lower() or "\\" in part:
        raise Unmapped("the path is not in canonical form (an empty segment or an encoded slash)")
    try:
        text = unquote(part, errors="strict")
    except UnicodeDecodeError:
        raise Unmapped("the path is not UTF-8") from None
    if text in (".", "..") or not text.isprintable():
        raise Unmapped("the path is not in canonical form (a dot segment or a control character)")
    if unquote(text) != text:  # %2564 is %64 here, and d to a server or framework that decodes again
        raise Unmapped(f"the path is not in canonical form (a double percent-encoding in segment {part!r})")
    if ";" in text:
        raise Unmapped(f"the path is not in canonical form (a path parameter: ';' in segment {part!r})")
    return text


def _match(
    route: Route, method: str, segments: tuple[str, ...], loose: bool = False
) -> dict[str, str] | None:
    """The path parameters when ``segments`` match ``route``; ``loose``: its literal segments compared as
    :func:`_loose` reads them (``segments`` given so)."""
    if route.method not in ("*", method) or len(route.segments) != len(segments):
        return None
    params: dict[str, str] = {}
    for pattern, segment in zip(route.segments, segments, strict=True):
        if pattern.startswith("{"):
            params[pattern[1:-1]] = segment
        elif (_loose(pattern) if loose else pattern) != segment:
            return None
    return params


def _loose(segment: str) -> str:
    """A segment as an upstream routing without regard to case, surrounding spaces or Unicode forms reads it."""
    return unicodedata.normalize("NFKC", segment).strip().casefold()


_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(template: str, params: Mapping[str, str]) -> str:
    """The template with each ``{param}`` replaced, in one pass (a value holding ``{other}`` stays as it is)."""
    return _REF.sub(lambda m: params.get(m.group(1), m.group(0)), template)


def _action_params(template: str, params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The path parameters ``template`` (a route's action) is made from; raises :class:`Unmapped` for a value an
    upstream may read as another word: surrounding spaces (``delete%20``, which an upstream trimming its input
    reads as ``delete``) or a form Unicode compatibility normalisation changes (a fullwidth ``%EF%BD%84elete``)."""
    used = tuple((name, params[name]) for name in dict.fromkeys(_REF.findall(template)) if name in params)
    for name, value in used:
        if value != value.strip():
            raise Unmapped(
                f"path parameter {{{name}}} ({value!r}), which the route's action is made from, has surrounding "
                "spaces: the upstream might trim them and act on another action than the one decided on"
            )
        if unicodedata.normalize("NFKC", value) != value:
            raise Unmapped(
                f"path parameter {{{name}}} ({value!r}), which the route's action is made from, is not in Unicode "
                f"normal form NFKC ({unicodedata.normalize('NFKC', value)!r}): the upstream might normalise it "
                "and act on another action than the one decided on"
            )
    return used


def case_variant(engine: Any, kind: str, action: str) -> str:
    """The action pattern of a policy rule for ``kind`` that ``action`` matches only when case is ignored
    (``Delete`` against a rule on ``delete``), or ``""``: an upstream routing without regard to case (Express's
    default, ASP.NET) would act on the action that rule decides, which this check would not meet."""
    global _variants
    table = engine.table
    if _variants[0] is not table:  # policies reloaded: answers of the old rule table no longer hold
        _variants = (table, _variant_cache(table))
    return _variants[1][(kind, action)]  # type: ignore[no-any-return]


def _variant_cache(table: Any) -> BoundedCache:
    # Keyed by what requests send (a path segment, an Mcp-Name): bounded by bytes, not only by entries.
    return BoundedCache(
        lambda key: _case_variant(table, *key),
        max_bytes=4 << 20,
        cost=lambda key, _value: ENTRY_OVERHEAD + 2 * (len(key[0]) + len(key[1])),
    )


#: The rule table :func:`case_variant` answers for, and its answers by (kind, action).
_variants: tuple[Any, BoundedCache] = (None, BoundedCache(lambda key: "", max_bytes=0))


def _case_variant(table: Any, kind: str, action: str) -> str:
    folded = action.casefold()
    for rows in table.rows.values():
        for row in rows:
            if not key_matches(row.resource, kind):
                continue
            for pattern in (row.action, *(row.allow_actions or ())):
                if not pattern or key_matches(pattern, action):
                    continue
                lowered = pattern.casefold()
                if lowered == folded or (glob.is_pattern(lowered) and glob.matches(lowered, folded)):
                    return pattern
    return ""


def query_of(query: str) -> tuple[dict[str, str], frozenset[str]]:
    """The query parameters (the first value of each name) and the names given more than once, counting
    ``;`` as a separator too (Rack 2, under Rails, and Perl's CGI split there: ``?amount=50&x=1;amount=5000``
    is a second amount to them): a name that reading gives more than once, or another value, counts as
    repeated. Raises :class:`Unmapped` for too many or bad parameters."""
    found, repeated = _pairs(query)
    if ";" in query:
        split, twice = _pairs(query.replace(";", "&"))
        changed = {name for name in found.keys() | split.keys() if found.get(name) != split.get(name)}
        repeated = repeated | twice | changed
    return found, repeated


def _pairs(query: str) -> tuple[dict[str, str], frozenset[str]]:
    """The parameters of an ``&``-separated query (the first value of each name) and the names repeated."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=MAX_QUERY_PARAMS)
    except (ValueError, UnicodeDecodeError):
        raise Unmapped(
            f"the query string is not valid (at most {MAX_QUERY_PARAMS} UTF-8 parameters)"
        ) from None
    found: dict[str, str] = {}
    repeated: set[str] = set()
    spelt: dict[
        str, str
    ] = {}  # by the name case-folded: ASP.NET reads ?AMOUNT=5000&amount=50 as amount, first
    for name, value in pairs:
        other = spelt.setdefault(name.casefold(), name)
        if name in found:
            repeated.add(name)
        else:
            found[name] = value
        if other != name:
            repeated |= {name, other}
    return found, frozenset(repeated)


def _read_once(what: str, repeated: frozenset[str], names: Iterable[str], where: str) -> None:
    """Refuse a query parameter or header the route reads that is given more than once: chamberlain decides
    on one reading of it (the first parameter; a header's values joined with ", "), and the upstream may read
    another (the last parameter in Rails and PHP, all of them in Express; a header's first or last value)."""
    twice = sorted(repeated.intersection(names))
    if twice:
        raise Unmapped(
            f"{what} {twice[0]!r} is given more than once, and {where} reads it: "
            "the upstream might read another value than the one decided on"
        )


def _same_method(
    request: ProxyRequest, query: Mapping[str, str], repeated: frozenset[str], body: list[tuple[str, Any]]
) -> None:
    """Refuse a request asking the upstream to read it as another method than the one decided on: by a header
    (spelt with ``_`` too, which CGI and WSGI servers read as its ``-`` spelling), or ``_method`` in the query
    or the body (an HTML form's, which Rails' Rack::MethodOverride and Laravel read)."""
    asked = [
        (f"header {h!r}", value)
        for h, value in request.headers.items()
        if h.replace("_", "-") in METHOD_OVERRIDES
    ]
    if "_method" in query:
        asked.append(("query parameter '_method'", "" if "_method" in repeated else query["_method"]))
    asked.extend(("body parameter '_method'", value) for name, value in body if name == "_method")
    for where, value in asked:
        if not isinstance(value, str) or value.strip().upper() != request.method:
            raise Unmapped(
                f"{where} asks for method {value!r}, and chamberlain decides on {request.method}: "
                "the upstream might act as another method"
            )


def headers_given_twice(request: ProxyRequest) -> frozenset[str]:
    """The header names given more than once, counting a name spelt with ``_`` as its ``-`` spelling too: CGI,
    WSGI and PHP read ``X_Channel`` as ``X-Channel`` (``HTTP_X_CHANNEL``), so either may be the value read."""
    underscored = {name for name in request.headers if "_" in name}
    return request.repeated | underscored | {name.replace("_", "-") for name in underscored}


def body_of(request: ProxyRequest, route: Route, max_depth: int) -> Any:
    """The request's JSON body for a route that reads it; raises :class:`Unmapped` when it is missing, partial
    or not JSON (a route reading the body is never decided without the whole of it)."""
    if request.body is None:
        raise Unmapped(f"route {route.template} reads the request body, and the proxy did not send it")
    if request.body_truncated:
        raise Unmapped(f"route {route.template} reads the request body, and the proxy sent only part of it")
    if not request.body.strip():
        return None
    try:
        return strictjson.loads(request.body, max_depth=max_depth)
    except strictjson.JSONError as exc:
        raise Unmapped(f"the request body is not JSON: {exc}") from None


def _exact(value: Any, what: str, where: str) -> None:
    """Refuse a body value ``where`` reads that holds two keys differing only in case (an upstream reading names
    without regard to case may take the other) or an integer beyond ±2^53: policies read every number as a
    double (as Cerbos does), so ``9007199254740993`` would be decided as ``9007199254740992`` while the upstream
    reads the integer sent."""
    twins = case_twins(value, what)
    if twins is not None:
        raise Unmapped(
            f"{twins[0]} holds keys {twins[1]!r} and {twins[2]!r}, which differ only in case, and {where} reads "
            "it: an upstream reading names without regard to case (ASP.NET's JSON defaults) might take the other"
        )
    found = inexact_integer(value, what, doubles=True)
    if found is not None:
        raise Unmapped(
            f"{found[0]} is {found[1]}, an integer beyond ±2^53, and {where} reads it: policies read numbers as "
            "doubles, so the upstream might act on another number than the one decided on"
        )


def _dig(value: Any, dotted: str) -> tuple[bool, Any]:
    """The body value at ``dotted``; raises :class:`Unmapped` when an object on the way holds another key that
    differs from the one read only in case (``{"amount": 20, "Amount": 5000}``: ASP.NET's JSON defaults read
    the names without regard to case and take one of them)."""
    where = "body"
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return False, None
        folded = part.casefold()
        twin = next((k for k in value if k != part and k.casefold() == folded), None)
        if twin is not None:
            raise Unmapped(
                f"{where} holds keys {part!r} and {twin!r}, which differ only in case, and the route reads "
                f"{where}.{part}: an upstream reading names without regard to case might take the other"
            )
        if part not in value:
            return False, None
        value = value[part]
        where = f"{where}.{part}"
    return True, value


def map_request(request: ProxyRequest, routes: tuple[Route, ...], max_depth: int) -> Mapped:
    """The check for ``request`` by the first matching route; raises :class:`Unmapped` saying why there is none."""
    if "#" in request.path or "#" in request.query:
        raise Unmapped(
            "the URI has a fragment (#), which clients never send: the upstream might cut it off "
            "(Express's query parser does) and read another value than the one decided on"
        )
    segments = segments_of(request.path)
    loosely: tuple[str, ...] | None = None
    for route in routes:
        params = _match(route, request.method, segments)
        if params is not None:
            return _mapped(request, route, params, max_depth)
        if loosely is None:
            loosely = tuple(_loose(s) for s in segments)
        if _match(route, request.method, loosely, loose=True) is not None:
            raise Unmapped(
                f"{request.method} {request.path} matches route {route.template} only when case, surrounding spaces "
                "or Unicode forms are ignored: an upstream routing so would act as that route, which chamberlain "
                "would not decide"
            )
    raise Unmapped(f"no route of chamberlain.gateway.routes matches {request.method} {request.path}")


def _body_params(request: ProxyRequest, max_depth: int) -> list[tuple[str, Any]]:
    """The parameters of the body the proxy sent (a JSON object's members, a form's fields, urlencoded or
    multipart; of the part sent when it sent a prefix), which frameworks merging body and query (Rails'
    ``params``, PHP's ``$_REQUEST``, Flask's ``request.values``, Spring's ``@RequestParam`` for forms) read as
    parameters too."""
    body = request.body
    if not body or not body.strip():
        return []
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return _multipart_fields(body, request.headers.get("content-type", ""))
    if kind == "application/x-www-form-urlencoded" or (request.body_truncated and kind != "application/json"):
        text = body.decode("utf-8", "replace")
        return parse_qsl(text, keep_blank_values=True, max_num_fields=None)
    if "json" in kind and not request.body_truncated:
        try:
            value = strictjson.loads(body, max_depth=max_depth)
        except strictjson.JSONError:
            return []
        return list(value.items()) if isinstance(value, dict) else []
    return []


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_FIELD_NAME = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)


def _multipart_fields(body: bytes, content_type: str) -> list[tuple[str, Any]]:
    """The fields of a ``multipart/form-data`` body (RFC 7578) that are not files, as (name, text): an HTML form
    with a file input sends its other fields (``_method`` among them) so."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        return []
    fields: list[tuple[str, Any]] = []
    for part in body.split(b"--" + found.group(1).encode("latin-1"))[1:]:
        head, blank, value = part.partition(b"\r\n\r\n")
        if not blank:
            head, blank, value = part.partition(b"\n\n")
        disposition = next(
            (line for line in head.splitlines() if line.lower().startswith(b"content-disposition:")), b""
        ).decode("latin-1")
        name = _FIELD_NAME.search(disposition)
        if blank and name is not None and "filename=" not in disposition.lower():
            fields.append(
                (name.group(1), value.removesuffix(b"\r\n").removesuffix(b"\n").decode("utf-8", "replace"))
            )
    return fields


def _merged(route: Route, query: Mapping[str, str], body: list[tuple[str, Any]]) -> None:
    """Refuse a request carrying a parameter the route reads from the query in its body too (or one it reads
    from the body in the query): an upstream merging the two (Rails' ``params``: the body wins; Flask's
    ``request.values``: the query) might read the other value than the one decided on."""
    attrs = route.attr.values()
    from_query = {s.name for s in attrs if s.source == "query"}
    from_body = {s.name.split(".")[0] for s in attrs if s.source == "body"}
    if not from_query and not from_body and not any(s.source == "cel" for s in attrs):
        return
    in_body = {name for name, _ in body}
    if any(s.source == "cel" and "query" in s.expression for s in attrs):
        from_query |= set(query)
    if any(s.source == "cel" and "body" in s.expression for s in attrs):
        from_body |= in_body
    twice = sorted((from_query & in_body) | (from_body & set(query)))
    if twice:
        raise Unmapped(
            f"parameter {twice[0]!r} is given both in the query and in the body, and {route.where} reads it: an "
            "upstream merging the two (Rails' params, PHP's $_REQUEST, Flask's request.values) might read "
            "another value than the one decided on"
        )


def _mapped(request: ProxyRequest, route: Route, params: dict[str, str], max_depth: int) -> Mapped:
    query, repeated_query = query_of(request.query)
    body_params = _body_params(request, max_depth)
    _same_method(request, query, repeated_query, body_params)
    _merged(route, query, body_params)
    twice = headers_given_twice(request)
    body = body_of(request, route, max_depth) if route.reads_body else None
    attr: dict[str, Any] = {}
    view: dict[str, Any] | None = None
    for name, source in route.attr.items():
        found, value = False, None
        if source.source == "path":
            found, value = True, params[source.name]
        elif source.source == "query":
            _read_once("query parameter", repeated_query, [source.name], f"{route.where}.attr.{name}")
            found, value = source.name in query, query.get(source.name)
        elif source.source == "header":
            _read_once("header", twice, [source.name], f"{route.where}.attr.{name}")
            found, value = source.name in request.headers, request.headers.get(source.name)
        elif source.source == "body":
            found, value = _dig(body, source.name)
            _exact(value, f"body.{source.name}", f"{route.where}.attr.{name}")
        else:
            if "query" in source.expression:  # it may read any parameter
                _read_once("query parameter", repeated_query, repeated_query, f"{route.where}.attr.{name}")
            if "body" in source.expression:  # it may read any number of the body
                _exact(body, "body", f"{route.where}.attr.{name}")
            if "headers" in source.expression:  # the repeated headers it names
                named = [h for h in twice if h in source.expression.lower()]
                _read_once("header", twice, named, f"{route.where}.attr.{name}")
            if view is None:
                view = {
                    "method": request.method,
                    "path": request.path,
                    "host": request.host,
                    "params": params,
                    "query": query,
                    "headers": dict(request.headers),
                    "body": body,
                }
            assert source.program is not None
            try:
                found, value = True, source.program.evaluate({"request": view})
            except cel.EvaluationError as exc:
                raise Unmapped(f"{route.where}.attr.{name}: the CEL expression failed: {exc}") from None
        if (
            found
        ):  # an absent attribute stays absent: a condition on it fails (denies under strict evaluation)
            attr[name] = value
    resource_id = _fill(route.id, params) if route.id else request.path
    used = _action_params(route.action, params)
    return Mapped(route.template, route.kind, resource_id, _fill(route.action, params), attr, used)
