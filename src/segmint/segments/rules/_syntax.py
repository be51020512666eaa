"""Tokens and the parser of the rule language: text in, an untyped syntax tree out.

The grammar, loosest binding first (keywords are case-insensitive)::

    rule     := or EOF
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum ( CMP sum
                    | ["not"] "in" "(" literal ("," literal)* ")"
                    | ["not"] "between" sum "and" sum
                    | "is" ["not"] "null" )?
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | primary
    primary  := NUMBER | STRING | DURATION | "true" | "false" | "null" | "*"
              | "(" or ")" | NAME "(" [arg ("," arg)*] ")" | NAME ["." NAME]
    arg      := or ["where" or]

``CMP`` is one of ``== != < <= > >=`` (``=`` reads as ``==``). A ``DURATION`` is a whole
number and a unit: ``12h``, ``30d``, ``2w``. Every error names the column it happened at and
what could have come there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmint.errors import RuleSyntaxError

KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false", "where"})
COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
#: quotes a word processor puts in, which users paste into rules
_SMART_QUOTES = "`\u2018\u2019\u201c\u201d"
UNITS = {"h": 3_600, "d": 86_400, "w": 7 * 86_400}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<duration>\d+(?:_\d+)*[hdw])(?![A-Za-z0-9_])
  | (?P<number>(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_.])
  | (?P<badnumber>\d[\w.]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<badstring>["'])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<>|<=|>=|<|>|=|\+|-|\*|/|\(|\)|,|\.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, duration, name, keyword, op, end
    text: str
    pos: int
    value: object = None


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character is a :class:`RuleSyntaxError`."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = ' (strings are quoted: "DE")' if ch in _SMART_QUOTES else ""
            raise RuleSyntaxError(f"unexpected character {ch!r}{hint}", text, pos)
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "badnumber":
            raise RuleSyntaxError(
                f"{raw!r} is neither a number nor a window (a window is a whole number and "
                "h, d or w: 12h, 30d, 2w)",
                text,
                pos,
            )
        if kind == "badstring":
            raise RuleSyntaxError(f"unterminated string: no closing {raw}", text, pos)
        tok = _token(kind, raw, pos)
        if kind == "number" and not abs(tok.value) <= _LARGEST:  # type: ignore[arg-type]
            raise RuleSyntaxError(f"number {raw[:20]} is too large (at most 1e300)", text, pos)
        if kind == "duration" and tok.value > MAX_WINDOW:  # type: ignore[operator]
            raise RuleSyntaxError(
                f"window {raw[:20]} is too long (at most {MAX_WINDOW // 86_400:,}d, 100 years)",
                text,
                pos,
            )
        out.append(tok)
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


#: the largest number a rule may write: beyond it floats become inf, which SQL cannot hold
_LARGEST = 1e300
#: the longest window, in seconds: a longer one reaches before year 1 and broke `publish`
#: (OverflowError) after the rule had been stored
MAX_WINDOW = 36_500 * 86_400
_INT64 = 2**63 - 1


def _token(kind: str, raw: str, pos: int) -> Token:
    if kind == "number":
        clean = raw.replace("_", "")
        is_int = re.fullmatch(r"\d+", clean) is not None
        # an integer no 64-bit column holds is compared as a double, like any other number
        value = int(clean) if is_int and int(clean) <= _INT64 else float(clean)
        return Token("number", raw, pos, value)
    if kind == "duration":
        n = int(raw[:-1].replace("_", ""))
        return Token("duration", raw, pos, n * UNITS[raw[-1]])
    if kind == "string":
        body = raw[1:-1]
        return Token("string", raw, pos, re.sub(r"\\(.)", r"\1", body))
    if kind == "name" and raw.lower() in KEYWORDS:
        return Token("keyword", raw.lower(), pos)
    if kind == "op" and raw in ("=", "<>"):
        return Token("op", "==" if raw == "=" else "!=", pos)
    return Token(kind, raw, pos)


# --- the syntax tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Lit(Node):
    value: object  # int, float, str, bool or None


@dataclass(frozen=True)
class Duration(Node):
    seconds: int
    text: str


@dataclass(frozen=True)
class Star(Node):
    pass


@dataclass(frozen=True)
class Name(Node):
    name: str
    prefix: str | None = None  # ``purchase.price``: prefix 'purchase'


@dataclass(frozen=True)
class Unary(Node):
    op: str  # 'not' or '-'
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # and, or, + - * /, == != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: tuple[Lit, ...]
    negated: bool


@dataclass(frozen=True)
class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool


@dataclass(frozen=True)
class Arg(Node):
    value: Node
    where: Node | None


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Arg, ...]
    end: int  # offset just past ')'


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the rule"
    return repr(tok.text)


#: bounds that keep recursive descent (and every later walk of the tree) far from Python's
#: recursion limit: 150 parentheses, 900 ``not``s or 1,900 unary minus signs were a 500
MAX_RULE_CHARS = 10_000
MAX_NESTING = 40


def _check_nesting(tokens: list[Token], text: str) -> None:
    """Raise RuleSyntaxError where parentheses or a run of prefix operators nest too deep."""
    depth = run = 0
    for prev, tok in zip([None, *tokens], tokens, strict=False):
        if tok.kind == "op" and tok.text in ("(", "["):
            depth += 1
        elif tok.kind == "op" and tok.text in (")", "]"):
            depth -= 1
        prefix = (tok.kind == "keyword" and tok.text == "not") or (
            tok.kind == "op"
            and tok.text in ("-", "+")
            and (prev is None or (prev.kind in ("op", "keyword") and prev.text not in (")", "]")))
        )
        run = run + 1 if prefix else 0
        if depth > MAX_NESTING or run > MAX_NESTING:
            what = "parentheses" if depth > MAX_NESTING else "prefix operators (not, -)"
            raise RuleSyntaxError(
                f"{what} nest more than {MAX_NESTING} deep; simplify the rule", text, tok.pos
            )


class Parser:
    """Recursive descent over :func:`tokenize`'s tokens."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_RULE_CHARS:
            raise RuleSyntaxError(
                f"the rule is {len(text):,} characters; at most {MAX_RULE_CHARS:,}", text, 0
            )
        self.text = text
        self.tokens = tokenize(text)
        _check_nesting(self.tokens, text)
        self.i = 0

    @property
    def tok(self) -> Token:
        """The token at the cursor, not consumed."""
        return self.tokens[self.i]

    def next(self) -> Token:
        """Consume the token at the cursor and return it."""
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        """Whether the token at the cursor is of ``kind`` (and, when given, reads ``text``)."""
        tok = self.tok
        return tok.kind == kind and (text is None or tok.text == text)

    def fail(self, message: str, expected: tuple[str, ...] = ()) -> RuleSyntaxError:
        """A RuleSyntaxError at the cursor's column, for the caller to raise."""
        return RuleSyntaxError(message, self.text, self.tok.pos, expected)

    def expect(self, kind: str, text: str, what: str) -> Token:
        """Consume the ``kind`` token ``text``; else raise RuleSyntaxError saying ``what`` was
        expected."""
        if not self.at(kind, text):
            raise self.fail(f"expected {what}, got {_describe(self.tok)}", (text,))
        return self.next()

    # grammar

    def parse(self) -> Node:
        """The tree of the whole rule; RuleSyntaxError when it is empty or anything follows a
        complete expression."""
        if self.at("end"):
            raise self.fail("the rule is empty", ("an expression",))
        node = self.or_()
        if not self.at("end"):
            expected = ("and", "or", "a comparison", "the end")
            hint = ""
            if self.at("op", ")"):
                hint = " (a ')' without its '(')"
            elif self.tok.kind in ("name", "number", "string"):
                hint = " (a missing 'and' or 'or'?)"
            raise self.fail(
                f"unexpected {_describe(self.tok)} after a complete expression{hint}; expected "
                "'and', 'or', a comparison or the end",
                expected,
            )
        return node

    def or_(self) -> Node:
        """``and`` terms joined by ``or``, grouped from the left."""
        node = self.and_()
        while self.at("keyword", "or"):
            pos = self.next().pos
            node = Binary(pos, "or", node, self.and_())
        return node

    def and_(self) -> Node:
        """``not`` terms joined by ``and``, grouped from the left."""
        node = self.not_()
        while self.at("keyword", "and"):
            pos = self.next().pos
            node = Binary(pos, "and", node, self.not_())
        return node

    def not_(self) -> Node:
        """A comparison under any number of prefix ``not``."""
        if self.at("keyword", "not"):
            pos = self.next().pos
            return Unary(pos, "not", self.not_())
        return self.compare()

    def compare(self) -> Node:
        """A sum and at most one comparison, ``[not] in``, ``[not] between`` or ``is [not] null``
        after it (comparisons do not chain)."""
        left = self.sum_()
        tok = self.tok
        if tok.kind == "op" and tok.text in COMPARISONS:
            self.next()
            return Binary(tok.pos, tok.text, left, self.sum_())
        negated = False
        if self.at("keyword", "not") and self.tokens[self.i + 1].text in ("in", "between"):
            self.next()
            negated = True
        if self.at("keyword", "in"):
            return self.in_list(left, self.next().pos, negated)
        if self.at("keyword", "between"):
            pos = self.next().pos
            low = self.sum_()
            self.expect("keyword", "and", "'and' between the bounds of 'between'")
            return Between(pos, left, low, self.sum_(), negated)
        if self.at("keyword", "is"):
            pos = self.next().pos
            neg = False
            if self.at("keyword", "not"):
                self.next()
                neg = True
            self.expect("keyword", "null", "'null' after 'is' (is null, is not null)")
            return IsNull(pos, left, neg)
        return left

    def in_list(self, left: Node, pos: int, negated: bool) -> InList:
        """The ``(literal, ...)`` after ``in``: numbers, strings and true/false only
        (RuleSyntaxError otherwise)."""
        self.expect("op", "(", "'(' opening the list after 'in', as in ('DE', 'AT')")
        items: list[Lit] = []
        while True:
            start = self.tok
            item = self.unary()
            if not isinstance(item, Lit) or item.value is None:
                raise RuleSyntaxError(
                    "a list after 'in' holds numbers, strings or true/false only",
                    self.text,
                    start.pos,
                    ("a number", "a string"),
                )
            items.append(item)
            if self.at("op", ","):
                self.next()
                continue
            self.expect("op", ")", "',' or ')' in the list after 'in'")
            return InList(pos, left, tuple(items), negated)

    def sum_(self) -> Node:
        """Products joined by ``+`` and ``-``, grouped from the left."""
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            tok = self.next()
            node = Binary(tok.pos, tok.text, node, self.product())
        return node

    def product(self) -> Node:
        """Unary terms joined by ``*`` and ``/``, grouped from the left."""
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            tok = self.next()
            node = Binary(tok.pos, tok.text, node, self.unary())
        return node

    def unary(self) -> Node:
        """A primary under any number of minus signs; a minus before a number is folded into the
        literal."""
        if self.at("op", "-"):
            pos = self.next().pos
            operand = self.unary()
            if isinstance(operand, Lit) and isinstance(operand.value, int | float):
                return Lit(pos, -operand.value)
            return Unary(pos, "-", operand)
        return self.primary()

    def primary(self) -> Node:
        """A literal, window, ``*``, parenthesized expression, call, or name (``field`` or
        ``type.field``)."""
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.next()
            return Lit(tok.pos, tok.value)
        if tok.kind == "duration":
            self.next()
            return Duration(tok.pos, int(tok.value), tok.text)  # type: ignore[call-overload]
        if tok.kind == "keyword" and tok.text in ("true", "false", "null"):
            self.next()
            return Lit(tok.pos, {"true": True, "false": False, "null": None}[tok.text])
        if self.at("op", "*"):
            self.next()
            return Star(tok.pos)
        if self.at("op", "("):
            self.next()
            node = self.or_()
            if not self.at("op", ")"):
                raise self.fail(
                    f"expected ')' to close the '(' at column {tok.pos + 1}, got "
                    f"{_describe(self.tok)}",
                    (")",),
                )
            self.next()
            return node
        if tok.kind == "name":
            self.next()
            if self.at("op", "("):
                return self.call(tok)
            if self.at("op", "."):
                self.next()
                if not self.at("name"):
                    raise self.fail(
                        f"expected a field name after '{tok.text}.', as in purchase.price",
                        ("a field name",),
                    )
                field = self.next()
                return Name(tok.pos, field.text, prefix=tok.text)
            return Name(tok.pos, tok.text)
        what = "a number, a string, a name, a function call or '('"
        if tok.kind == "keyword":
            raise self.fail(f"expected {what}, got the keyword '{tok.text}'", (what,))
        raise self.fail(f"expected {what}, got {_describe(tok)}", (what,))

    def call(self, name: Token) -> Call:
        """The call of ``name`` (lower-cased), its arguments each an expression with an optional
        ``where`` filter."""
        self.expect("op", "(", "'('")
        args: list[Arg] = []
        if not self.at("op", ")"):
            while True:
                start = self.tok.pos
                value = self.or_()
                where = None
                if self.at("keyword", "where"):
                    self.next()
                    where = self.or_()
                args.append(Arg(start, value, where))
                if self.at("op", ","):
                    self.next()
                    continue
                break
        if not self.at("op", ")"):
            raise self.fail(
                f"expected ',' or ')' in the arguments of {name.text}(), got {_describe(self.tok)}",
                (",", ")"),
            )
        end = self.next().pos + 1
        return Call(name.pos, name.text.lower(), tuple(args), end)


def parse(text: str) -> Node:
    """The syntax tree of ``text`` (names are not resolved yet: see :func:`bind`)."""
    if not isinstance(text, str):
        raise TypeError(f"a rule is a string, got {type(text).__name__}")
    return Parser(text).parse()
