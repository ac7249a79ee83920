"""SCIM filter and attribute-path parser (RFC 7644 §3.4.2.2 filters, §3.5.2 PATCH paths, §3.4.2.5 attribute lists).

PURE: text in, AST out. No schema knowledge: resolving names against schemas is ``paths.py``'s job, and turning an
AST into SQL is ``query.py``'s.

Grammar (RFC 7644 §3.4.2.2, precedence ``not`` > ``and`` > ``or``, parentheses group)::

    FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")" / "(" FILTER ")"
    valuePath = attrPath "[" valFilter "]"
    attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
    attrPath  = [URI ":"] ATTRNAME *1subAttr

Operators, ``and``/``or``/``not`` and ``true``/``false``/``null`` are matched case-insensitively. Two leniencies
real clients need: an unquoted value is read as a string (Microsoft's own examples send
``externalId eq jyoung`` and ``meta.created gt 2015-10-10T14:38:21Z``), and ``emails[type eq "work"].value eq "x"``
is read as ``emails[type eq "work" and value eq "x"]`` (Entra lets admins match on that path).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Union

MAX_LENGTH = 10_000
# Far above what any IdP sends (Entra: one or two eq terms), and low enough that the SQL built from a filter stays
# within the database's expression-depth limits and cheap to plan.
MAX_DEPTH = 20
MAX_NODES = 200

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
ATTRNAME = re.compile(r"^[A-Za-z$][A-Za-z0-9_$-]*$")
NUMBER = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")
_PUNCT = "()[]"


class FilterError(ValueError):
    """The text is not a valid filter or path; the message says where and why."""


class Number(Decimal):
    """An unquoted number in a filter. It compares as a number and remembers how it was written, so that
    ``externalId eq 1.50`` compared with a string attribute means the text "1.50"."""

    def __new__(cls, text: str):
        obj = super().__new__(cls, text)
        obj.text = text
        return obj

    def __repr__(self) -> str:
        return f"Number({self.text!r})"


@dataclass(frozen=True)
class AttrPath:
    """``[uri:]attr[.sub]`` exactly as written; ``uri`` is None when unqualified."""

    uri: str | None
    attr: str
    sub: str | None = None

    def __str__(self) -> str:
        head = f"{self.uri}:{self.attr}" if self.uri else self.attr
        return f"{head}.{self.sub}" if self.sub else head


@dataclass(frozen=True)
class Compare:
    """``path op value``."""

    path: AttrPath
    op: str
    value: Any


@dataclass(frozen=True)
class Present:
    """``path pr``."""

    path: AttrPath


@dataclass(frozen=True)
class And:
    """``left and right``."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    """``left or right``."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """``not (expr)``."""

    expr: Node


@dataclass(frozen=True)
class ValuePath:
    """``path[filter]``: some element of the multi-valued (or complex) attribute matches ``filter``."""

    path: AttrPath
    filter: Node


Node = Union[Compare, Present, And, Or, Not, ValuePath]


@dataclass(frozen=True)
class PatchPath:
    """A PATCH ``path`` (RFC 7644 §3.5.2): ``attrPath`` or ``valuePath [subAttr]``."""

    attr: AttrPath
    filter: Node | None = None
    sub: str | None = None  # sub-attribute after a value filter: emails[type eq "work"].value

    def __str__(self) -> str:
        if self.filter is None:
            return str(self.attr)
        return f"{self.attr}[…]" + (f".{self.sub}" if self.sub else "")


# --------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class _Tok:
    kind: str  # "punct", "str", "word", "end"
    text: str
    pos: int
    value: Any = None


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _PUNCT:
            toks.append(_Tok("punct", c, i))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise FilterError(f"unterminated string starting at position {i + 1}")
            raw = text[i:j + 1]
            try:
                value = json.loads(raw)
                value.encode("utf-8")
            except ValueError:  # includes UnicodeEncodeError: a lone surrogate such as \ud800 is not text
                raise FilterError(f"invalid escape in string at position {i + 1}") from None
            if "\x00" in value:
                raise FilterError(f"the string at position {i + 1} contains a NUL character")
            toks.append(_Tok("str", raw, i, value))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _PUNCT and text[j] != '"':
                j += 1
            toks.append(_Tok("word", text[i:j], i))
            i = j
    toks.append(_Tok("end", "", n))
    return toks


def parse_attr_path(word: str) -> AttrPath:
    """Parse ``[URI:]ATTRNAME[.subAttr]``; the URI is everything before the last colon."""
    uri = None
    rest = word
    if word[:4].lower() == "urn:":
        if ":" not in word[4:]:
            raise FilterError(f"{word!r} is not a valid attribute path")
        uri, rest = word.rsplit(":", 1)
    parts = rest.split(".")
    if len(parts) > 2 or not all(ATTRNAME.match(p) for p in parts):
        raise FilterError(f"{word!r} is not a valid attribute path")
    return AttrPath(uri, parts[0], parts[1] if len(parts) == 2 else None)


class _Parser:
    def __init__(self, text: str):
        if not isinstance(text, str):
            raise FilterError("must be a string")
        if "\x00" in text:
            raise FilterError("contains a NUL character")
        if len(text) > MAX_LENGTH:
            raise FilterError(f"longer than {MAX_LENGTH} characters")
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.nodes = 0

    # -- helpers
    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() in words

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok.kind != "punct" or tok.text != punct:
            raise FilterError(f"expected {punct!r} at position {tok.pos + 1}, found {tok.text or 'end of input'!r}")

    def node(self, n: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterError(f"more than {MAX_NODES} expressions")
        return n

    def end(self) -> None:
        tok = self.peek()
        if tok.kind != "end":
            raise FilterError(f"unexpected {tok.text!r} at position {tok.pos + 1}")

    # -- grammar
    def or_expr(self, nested: bool) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"nested deeper than {MAX_DEPTH} levels")
        left = self.and_expr(nested)
        while self.at_word("or"):
            self.take()
            left = self.node(Or(left, self.and_expr(nested)))
        self.depth -= 1
        return left

    def and_expr(self, nested: bool) -> Node:
        left = self.unary(nested)
        while self.at_word("and"):
            self.take()
            left = self.node(And(left, self.unary(nested)))
        return left

    def unary(self, nested: bool) -> Node:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            inner = self.or_expr(nested)
            self.expect(")")
            return inner
        if self.at_word("not") and self.peek(1).kind == "punct" and self.peek(1).text == "(":
            self.take()
            self.take()
            inner = self.or_expr(nested)
            self.expect(")")
            return self.node(Not(inner))
        if tok.kind != "word":
            raise FilterError(f"expected an attribute name at position {tok.pos + 1}, "
                              f"found {tok.text or 'end of input'!r}")
        return self.attr_expr(nested)

    def attr_expr(self, nested: bool) -> Node:
        tok = self.take()
        path = parse_attr_path(tok.text)
        nxt = self.peek()
        if nxt.kind == "punct" and nxt.text == "[":
            if nested:
                raise FilterError(f"value filters cannot be nested (position {nxt.pos + 1})")
            if path.sub:
                raise FilterError(f"a value filter applies to an attribute, not to {path} (position {nxt.pos + 1})")
            self.take()
            inner = self.or_expr(True)
            self.expect("]")
            after = self.peek()
            if after.kind == "word" and after.text.startswith("."):
                # Lenient extension: attr[filter].sub op value  ==  attr[filter and sub op value]
                self.take()
                sub = after.text[1:]
                if not ATTRNAME.match(sub):
                    raise FilterError(f"{after.text!r} is not a valid sub-attribute (position {after.pos + 1})")
                inner = self.node(And(inner, self.comparison(AttrPath(None, sub))))
            return self.node(ValuePath(path, inner))
        return self.comparison(path)

    def comparison(self, path: AttrPath) -> Node:
        op_tok = self.take()
        op = op_tok.text.lower() if op_tok.kind == "word" else ""
        if op == "pr":
            return self.node(Present(path))
        if op not in COMPARE_OPS:
            raise FilterError(f"expected an operator after {path} at position {op_tok.pos + 1}, "
                              f"found {op_tok.text or 'end of input'!r}")
        return self.node(Compare(path, op, self.comp_value()))

    def comp_value(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return tok.value
        if tok.kind != "word":
            raise FilterError(f"expected a value at position {tok.pos + 1}, found {tok.text or 'end of input'!r}")
        low = tok.text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "null":
            return None
        if NUMBER.match(tok.text):
            return Number(tok.text)
        return tok.text  # unquoted string: see module docstring


# ``attr eq "plain text"``: the lookup IdPs send before every write, parsed without the tokenizer. The parser
# would build exactly this node; anything else (escapes, other operators, odd paths) goes through it.
_SIMPLE_EQ = re.compile(r'\s*([^\s()\[\]"]+)\s+[eE][qQ]\s+"([^"\\\x00-\x1f]*)"\s*')  # JSON: no raw controls


def _simple_eq(text: str) -> Node | None:
    # A NUL anywhere is left to the parser, which has its own rule for it.
    m = _SIMPLE_EQ.fullmatch(text) if len(text) <= MAX_LENGTH and "\x00" not in text else None
    if m is None:
        return None
    try:
        path = parse_attr_path(m.group(1))
        m.group(2).encode("utf-8")  # a lone surrogate: let the parser say what is wrong
    except (FilterError, UnicodeEncodeError):
        return None
    return Compare(path, "eq", m.group(2))


def parse_filter(text: str) -> Node:
    """Parse a ``filter`` query parameter into an AST; raises FilterError."""
    if isinstance(text, str):
        simple = _simple_eq(text)
        if simple is not None:
            return simple
    p = _Parser(text)
    if p.peek().kind == "end":
        raise FilterError("the filter is empty")
    node = p.or_expr(False)
    p.end()
    return node


def parse_path(text: str) -> PatchPath:
    """Parse a PATCH operation's ``path`` (RFC 7644 §3.5.2); raises FilterError."""
    p = _Parser(text)
    tok = p.take()
    if tok.kind != "word":
        raise FilterError("the path is empty" if tok.kind == "end" else f"unexpected {tok.text!r} at the start")
    attr = parse_attr_path(tok.text)
    if p.peek().kind == "punct" and p.peek().text == "[":
        if attr.sub:
            raise FilterError(f"a value filter applies to an attribute, not to {attr}")
        p.take()
        flt = p.or_expr(True)
        p.expect("]")
        sub = None
        after = p.peek()
        if after.kind == "word" and after.text.startswith("."):
            p.take()
            sub = after.text[1:]
            if not ATTRNAME.match(sub):
                raise FilterError(f"{after.text!r} is not a valid sub-attribute")
        p.end()
        return PatchPath(attr, flt, sub)
    p.end()
    return PatchPath(attr)


def parse_attr_list(text: str) -> list[PatchPath]:
    """Parse ``attributes``/``excludedAttributes`` (RFC 7644 §3.4.2.5): comma-separated attribute paths.

    A value filter in an entry (Microsoft's test collection sends ``attributes=emails[type eq "work"]``) is
    accepted and ignored: the whole attribute is selected.
    """
    out = []
    depth = 0
    start = 0
    parts = []
    quoted = escaped = False
    for i, c in enumerate(text):  # split on commas outside brackets and quotes
        if quoted:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        part = part.strip()
        if part:
            out.append(parse_path(part))
    return out
