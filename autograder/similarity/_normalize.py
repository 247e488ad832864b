"""Student code to a normalised token stream that remembers where every token came from.

One code cell at a time (:func:`normalize_cell`):

1. **Tokens.**  A small, forgiving tokenizer (:func:`tokenize`) that never raises: names,
   numbers, strings (an unterminated one runs to the end of its line), operators, and
   the structure of the code as three tokens, ``;`` at the end of a logical line,
   ``{`` and ``}`` where the indentation goes in and out.  Comments, blank lines and
   IPython magics (``%...``, ``!...``) produce no token.  Every token keeps its
   character span in the cell, so matches can be marked in the student's own text.
2. **Names.**  A name the student binds (assignment target, loop variable, parameter,
   function or class name; see :func:`bound_names`) becomes ``V``, unless it is one of
   the notebook's fixed names (the names course.yml asks for and the names the release
   notebook itself binds, such as ``img``).  Attributes (``.sum``), keyword arguments
   (``axis=``), imported names, builtins and keywords are kept: in a NumPy course the
   function called is most of what an answer says.  Every string becomes ``S``.
3. **Starter code.**  A statement of the cell equal (as an AST, so whatever its spacing
   and comments) to a statement of any code cell of the release notebook is given
   code: its tokens are dropped (and its span remembered, to be shown as given).  This
   removes the stub (``raise NotImplementedError()``), the given lines of a solution
   cell, and instructor cells a student pasted back.
4. **Order.**  In every block (cell, loop or function body), statements that do not
   depend on each other are put in a canonical order: statement *j* must stay after an
   earlier statement *i* when one writes a name the other reads or writes (a call
   made for its effect, ``a.sort()`` or ``ax.plot(...)``, writes ``a`` or ``ax``;
   ``x[i] = ...`` writes ``x``);
   ``return``, ``raise``, ``break``, ``continue``, ``global``, ``del`` and star imports
   keep their place.  Among the statements free to go next, the one whose normalised
   text is smallest goes first (a topological sort with a fixed tie-break), so any two
   orders of the same statements that respect the dependencies give the same stream.

A cell that does not parse (a syntax error) still gets steps 1 and 2 (bound names
guessed from the tokens: ``NAME =``, ``for NAME in``, ``def NAME``...), starter lines
removed line by line, and no reordering: it is compared at token level.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from dataclasses import dataclass, field

__all__ = ["Token", "NormalizedCell", "GivenCode", "tokenize", "parse", "bound_names", "guess_bound_names",
           "given_code", "normalize_cell"]

NAME, NUMBER, STRING, OP, NEWLINE, INDENT, DEDENT = "name", "number", "string", "op", "newline", "indent", "dedent"
_REAL = frozenset({NAME, NUMBER, STRING, OP})
_BUILTINS = frozenset(dir(builtins))
_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

_STRING = (r"(?:[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)"
           r"|'(?:[^'\\\n]|\\.)*(?:'|(?=\n)|\Z)|\"(?:[^\"\\\n]|\\.)*(?:\"|(?=\n)|\Z))")
_NUMBER = (r"(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
           r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)")
_OPS = sorted(["**=", "//=", ">>=", "<<=", "...", "->", ":=", "==", "!=", "<=", ">=", "**", "//", "<<", ">>",
               "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@="], key=len, reverse=True)
_TOKEN = re.compile(
    rf"(?P<ws>[ \t\f]+)|(?P<cont>\\\r?\n)|(?P<nl>\r?\n)|(?P<comment>#[^\n]*)"
    rf"|(?P<string>{_STRING})|(?P<number>{_NUMBER})|(?P<name>[^\W\d]\w*)"
    rf"|(?P<op>{'|'.join(re.escape(o) for o in _OPS)}|[^\s\w])|(?P<other>\S)"
)
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text in the cell, and its span (character offsets)."""

    kind: str
    text: str
    start: int
    end: int


@dataclass
class NormalizedCell:
    """A cell as the comparison sees it.

    ``values`` are the normalised tokens (what is fingerprinted) and ``spans`` the
    character span in ``source`` each came from; ``given`` are the spans of starter
    code that was removed; ``fallback`` is True when the cell did not parse and was
    compared at token level.
    """

    source: str
    values: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    given: list[tuple[int, int]] = field(default_factory=list)
    fallback: bool = False


_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class"})
_REST = re.compile(r"[ \t\f]*(?:#[^\n]*)?(?:\n|\Z)")


def _ends_header(source: str, pos: int) -> bool:
    """Whether code follows a compound statement's ``:`` on the same line."""
    return not _REST.match(source, pos)


def _dedented(source: str, pos: int, indent: int) -> bool:
    """Whether the physical line at ``pos`` holds code indented no deeper than ``indent``."""
    eol = source.find("\n", pos)
    line = source[pos: len(source) if eol < 0 else eol]
    stripped = line.lstrip(" \t\f")
    if not stripped or stripped.startswith("#") or stripped[0] in _CLOSE:
        return False
    return len(line[: len(line) - len(stripped)].expandtabs(8)) <= indent


def _is_magic(line: str) -> bool:
    return line.lstrip().startswith(("%", "!"))


def tokenize(source: str) -> list[Token]:
    """Tokens of ``source`` (see the module docstring); never raises."""
    tokens: list[Token] = []
    depth = 0
    line_start = True  # at the start of a logical line: indentation decides
    indents = [0]
    header = False  # the logical line starts with a compound statement's keyword
    inline = 0  # blocks opened by `if x: y` on one line, closed at the line's end
    line_indent = 0  # indentation of the current logical line
    pos = 0
    n = len(source)
    while pos < n:
        if depth and source[pos - 1: pos] == "\n" and _dedented(source, pos, line_indent):
            # an unclosed bracket (a syntax error): a line no deeper than the statement's
            # own starts a new statement, so that one typo does not swallow the cell
            depth = 0
            tokens.append(Token(NEWLINE, "", pos - 1, pos - 1))
            tokens += [Token(DEDENT, "", pos - 1, pos - 1)] * inline
            line_start, inline = True, 0
        if line_start:
            eol = source.find("\n", pos)
            eol = n if eol < 0 else eol
            line = source[pos:eol]
            stripped = line.lstrip(" \t\f")
            if not stripped.strip() or stripped.startswith("#") or (depth == 0 and _is_magic(line)):
                pos = eol + 1  # blank, comment-only or magic line: no tokens, no indentation
                continue
            width = len(line[: len(line) - len(stripped)].expandtabs(8))
            at = pos + len(line) - len(stripped)
            if width > indents[-1]:
                indents.append(width)
                tokens.append(Token(INDENT, "", at, at))
            while width < indents[-1]:
                indents.pop()
                tokens.append(Token(DEDENT, "", at, at))
            if width > indents[-1]:  # inconsistent dedent: treat as a new level
                indents.append(width)
            pos = at
            line_start = False
            line_indent = width
            header = _TOKEN.match(source, pos).group() in _COMPOUND
        m = _TOKEN.match(source, pos)
        kind = m.lastgroup
        text = m.group()
        if kind == "nl":
            if depth == 0:
                tokens.append(Token(NEWLINE, "", m.start(), m.start()))
                tokens += [Token(DEDENT, "", m.start(), m.start())] * inline
                line_start, inline = True, 0
        elif kind == "op":
            if text in _OPEN:
                depth += 1
            elif text in _CLOSE:
                depth = max(0, depth - 1)
            tokens.append(Token(OP, text, m.start(), m.end()))
            if text == ":" and depth == 0 and header and not inline and _ends_header(source, m.end()):
                tokens += [Token(NEWLINE, "", m.end(), m.end()), Token(INDENT, "", m.end(), m.end())]
                inline = 1
        elif kind in (NAME, NUMBER, STRING):
            tokens.append(Token(kind, text, m.start(), m.end()))
        elif kind == "other":
            tokens.append(Token(OP, text, m.start(), m.end()))
        pos = m.end()
    if tokens and tokens[-1].kind not in (NEWLINE,) and not line_start:
        tokens.append(Token(NEWLINE, "", n, n))
        tokens += [Token(DEDENT, "", n, n)] * inline
    for _ in indents[1:]:
        tokens.append(Token(DEDENT, "", n, n))
    return tokens


# --------------------------------------------------------------------------------------
# parsing and names
# --------------------------------------------------------------------------------------
def parse(source: str) -> ast.Module | None:
    """The AST of a cell (IPython magic lines blanked), or None if it does not parse."""
    lines = source.split("\n")
    if any(_is_magic(line) for line in lines):
        source = "\n".join("" if _is_magic(line) else line for line in lines)
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _target_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)}


def _walk(tree: ast.AST, skip: set[str]):
    """``ast.walk`` that does not enter a statement whose dump is in ``skip``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.stmt) and skip and ast.dump(node) in skip:
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def bound_names(tree: ast.AST, skip: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    """Names a piece of code binds: ``(variables, imported)``.

    Variables: assignment and loop targets, parameters, function and class names,
    ``except ... as`` and walrus names.  Imported: names bound by ``import``.
    Statements whose ``ast.dump`` is in ``skip`` (given code) are not looked at.
    """
    variables: set[str] = set()
    imported: set[str] = set()
    for node in _walk(tree, skip):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            variables.add(node.id)
        elif isinstance(node, ast.arg):
            variables.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            variables.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            variables.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
    return variables, imported


def guess_bound_names(source: str, skip_lines: set[str] = frozenset()) -> set[str]:
    """Variables a cell that does not parse seems to bind, read from its tokens
    (logical lines whose first line, stripped, is in ``skip_lines`` are given code)."""
    found: set[str] = set()
    line: list[Token] = []
    for tok in tokenize(source):
        if tok.kind == NEWLINE:
            if line and _line_of(source, line[0].start) not in skip_lines:
                found |= _guess_line(line)
            line = []
        elif tok.kind in _REAL:
            line.append(tok)
    if line and _line_of(source, line[0].start) not in skip_lines:
        found |= _guess_line(line)
    return found


def _line_of(source: str, pos: int) -> str:
    """The stripped physical line of ``source`` holding ``pos``."""
    start = source.rfind("\n", 0, pos) + 1
    end = source.find("\n", pos)
    return source[start: len(source) if end < 0 else end].strip()


def _guess_line(line: list[Token]) -> set[str]:
    found: set[str] = set()
    texts = [t.text for t in line]
    if not texts:
        return found
    if texts[0] in ("def", "class") and len(line) > 1 and line[1].kind == NAME:
        found.add(line[1].text)
        depth = 0
        for i, t in enumerate(line[2:], start=2):
            depth += t.text in _OPEN
            depth -= t.text in _CLOSE
            if depth == 1 and t.kind == NAME and texts[i - 1] in ("(", ",", "*", "**"):
                found.add(t.text)
        return found
    for i, t in enumerate(texts):
        if t in ("for", "as") and texts[0] not in ("import", "from"):
            j = i + 1
            while j < len(line) and texts[j] not in ("in", ":", ")"):
                if line[j].kind == NAME and texts[j - 1] != ".":
                    found.add(texts[j])
                j += 1
    depth = 0
    for i, t in enumerate(texts):
        depth += t in _OPEN
        depth -= t in _CLOSE
        if depth == 0 and t in ("=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", "|=", "&=", "^=", "@="):
            for j in range(i):
                if line[j].kind == NAME and (j == 0 or texts[j - 1] != ".") and texts[j] not in _KEYWORDS:
                    if j + 1 >= i or texts[j + 1] not in ("(", "[", "."):
                        found.add(texts[j])
            break
    return found


# --------------------------------------------------------------------------------------
# the release notebook's code
# --------------------------------------------------------------------------------------
@dataclass
class GivenCode:
    """What the release notebook gives: its statements (``ast.dump``) and lines (stripped)."""

    statements: set[str] = field(default_factory=set)
    lines: set[str] = field(default_factory=set)

    def add(self, source: str) -> None:
        """Add the code of one release code cell."""
        for line in source.splitlines():
            text = line.strip()
            if text and not text.startswith("#"):
                self.lines.add(text)
        tree = parse(source)
        if tree is not None:
            self.statements |= {ast.dump(node) for node in ast.walk(tree) if isinstance(node, ast.stmt)}


def given_code(sources: list[str]) -> GivenCode:
    """The :class:`GivenCode` of a release notebook's code cells."""
    given = GivenCode()
    for source in sources:
        given.add(source)
    return given


# --------------------------------------------------------------------------------------
# normalising tokens
# --------------------------------------------------------------------------------------
def _values(tokens: list[Token], variables: set[str]) -> list[str]:
    """The normalised value of every token (see the module docstring, step 2)."""
    out: list[str] = []
    stack: list[bool] = []  # per open bracket: is it a def's parameter list?
    for i, tok in enumerate(tokens):
        kind, text = tok.kind, tok.text
        if kind == NAME:
            prev = tokens[i - 1].text if i else ""
            nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
            if text in _KEYWORDS or text not in variables or prev == ".":
                out.append(text)
            elif nxt == "=" and prev in ("(", ",") and stack and not stack[-1]:
                out.append(text)  # keyword argument of a call
            else:
                out.append("V")
        elif kind == STRING:
            out.append("S")
        elif kind == NUMBER:
            out.append(text.replace("_", "").lower())
        elif kind == OP:
            if text in _OPEN:
                stack.append(text == "(" and i >= 2 and tokens[i - 2].text == "def")
            elif text in _CLOSE and stack:
                stack.pop()
            out.append(text)
        elif kind == NEWLINE:
            out.append(";")
        elif kind == INDENT:
            out.append("{")
        else:
            out.append("}")
    return out


def _line_offsets(source: str) -> list[int]:
    offsets = [0]
    for line in source.split("\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    return offsets


class _Cell:
    """Statement spans, dependencies and the canonical order of one parsed cell."""

    def __init__(self, source: str, tree: ast.Module, tokens: list[Token], values: list[str], given: GivenCode):
        self.source = source
        self.tokens = tokens
        self.values = values
        self.given = given
        self.lines = source.split("\n")
        self.offsets = _line_offsets(source)
        self.depth = [0]  # indentation depth before each token (and after the last)
        for t in tokens:
            self.depth.append(self.depth[-1] + (t.kind == INDENT) - (t.kind == DEDENT))
        self.tree = tree
        self.given_spans: list[tuple[int, int]] = []

    def char(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        return self.offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))

    def first_token(self, stmt: ast.stmt, lo: int, hi: int) -> int:
        at = self.char(stmt.lineno, stmt.col_offset)
        for i in range(lo, hi):
            tok = self.tokens[i]
            if tok.kind in _REAL and tok.start >= at:
                return i
        return hi

    def end_token(self, stmt: ast.stmt, lo: int, hi: int) -> int:
        """Index after the last token of ``stmt`` (from its first token ``lo``): its
        span, the NEWLINE or ``;`` after it, and the DEDENTs closing its own blocks."""
        at = self.char(stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0)
        level = self.depth[lo]
        i = lo
        while i < hi and ((self.tokens[i].kind in _REAL and self.tokens[i].end <= at)
                          or (self.tokens[i].kind not in _REAL and self.tokens[i].start < at)):
            i += 1
        while i < hi and (self.tokens[i].kind == NEWLINE or self.tokens[i].text == ";"):
            i += 1
        while i < hi and self.tokens[i].kind == DEDENT and self.depth[i + 1] >= level:
            i += 1
        return i

    def order(self, body: list[ast.stmt], lo: int, hi: int) -> list[int]:
        """Token indices of the range [lo, hi) holding ``body``, in canonical order."""
        if not body:
            return list(range(lo, hi))
        firsts = [self.first_token(s, lo, hi) for s in body]
        first_of_body = firsts[0]
        ends = firsts[1:] + [self.end_token(body[-1], firsts[-1], hi)]
        segments: list[list[int]] = []
        kept: list[ast.stmt] = []
        for stmt, a, b in zip(body, firsts, ends, strict=True):
            if self.is_given(stmt):
                if a < b:
                    self.given_spans.append((self.tokens[a].start, self.tokens[b - 1].end))
                continue
            segments.append(self.statement(stmt, a, b))
            kept.append(stmt)
        out = list(range(lo, first_of_body))
        for k in _canonical_order(kept, [" ".join(self.values[i] for i in seg) for seg in segments]):
            out += segments[k]
        return out + list(range(ends[-1], hi))

    def is_given(self, stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return True  # a docstring or a bare string: a comment
        return ast.dump(stmt) in self.given.statements

    def statement(self, stmt: ast.stmt, a: int, b: int) -> list[int]:
        bodies = [getattr(stmt, name) for name in ("body", "orelse", "finalbody") if getattr(stmt, name, None)]
        bodies += [h.body for h in getattr(stmt, "handlers", []) if h.body]
        bodies += [c.body for c in getattr(stmt, "cases", []) if c.body]
        bodies = [b_ for b_ in bodies if isinstance(b_, list) and b_ and isinstance(b_[0], ast.stmt)]
        bodies.sort(key=lambda b_: (b_[0].lineno, b_[0].col_offset))
        out: list[int] = []
        pos = a
        for sub in bodies:
            s = self.first_token(sub[0], pos, b)
            e = self.end_token(sub[-1], self.first_token(sub[-1], s, b), b)
            out += list(range(pos, s))
            out += self.order(sub, s, e)
            pos = e
        return out + list(range(pos, b))


_BARRIERS = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Global, ast.Nonlocal, ast.Delete)


def _effects(stmt: ast.stmt) -> tuple[set[str], set[str], bool]:
    """(names read, names written, is a barrier) of one statement."""
    if isinstance(stmt, _BARRIERS) or (isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names)):
        return set(), set(), True
    reads: set[str] = set()
    writes: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (writes if isinstance(node.ctx, ast.Store | ast.Del) else reads).add(node.id)
        elif isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            writes |= _base_names(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
            writes |= _base_names(node.value.func.value)  # `a.sort()`: a call for its effect on its object
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            writes.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            writes |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            writes.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal | ast.Return | ast.Yield | ast.YieldFrom):
            return set(), set(), True
    return reads, writes, False


def _base_names(node: ast.AST) -> set[str]:
    while isinstance(node, ast.Subscript | ast.Attribute | ast.Call | ast.Starred):
        node = node.func if isinstance(node, ast.Call) else node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def _canonical_order(stmts: list[ast.stmt], keys: list[str]) -> list[int]:
    """Indices of ``stmts`` in canonical order: a topological sort of their
    dependencies, smallest ``key`` first among those free to go."""
    return _order_by_effects([_effects(s) for s in stmts], keys)


def _order_by_effects(effects: list[tuple[set[str], set[str], bool]], keys: list[str]) -> list[int]:
    n = len(effects)
    before: list[set[int]] = [set() for _ in range(n)]
    for j in range(n):
        rj, wj, bj = effects[j]
        for i in range(j):
            ri, wi, bi = effects[i]
            if bi or bj or wi & rj or wj & ri or wi & wj:
                before[j].add(i)
    done: list[int] = []
    left = set(range(n))
    while left:
        free = [j for j in left if not (before[j] & left)]
        j = min(free, key=lambda j: (keys[j], j))
        done.append(j)
        left.remove(j)
    return done


def _reorder_lines(source: str, tokens: list[Token], values: list[str], keep: list[int]) -> list[int]:
    """Canonical order of the top-level lines of a cell that does not parse.

    Each logical line at indentation 0 is a statement: its effects come from its AST
    when the line parses on its own, else from its tokens (every name read, the
    names :func:`guess_bound_names` finds written).  Indented lines stay with the
    line that opens their block.
    """
    lines: list[list[int]] = []
    depth = 0
    for i in keep:
        tok = tokens[i]
        if not lines or (depth == 0 and tok.kind in _REAL and tokens[lines[-1][-1]].kind in (NEWLINE, DEDENT)):
            lines.append([])
        lines[-1].append(i)
        depth += (tok.kind == INDENT) - (tok.kind == DEDENT)
    effects = []
    for line in lines:
        real = [tokens[i] for i in line if tokens[i].kind in _REAL]
        text = source[real[0].start: real[-1].end] if real else ""
        tree = parse(text) if text and "\n" not in text else None
        if tree is not None and len(tree.body) == 1:
            effects.append(_effects(tree.body[0]))
        else:
            names = {t.text for k, t in enumerate(real) if t.kind == NAME and (k == 0 or real[k - 1].text != ".")}
            effects.append((names, _guess_line(real) | ({real[0].text} if real else set()), not real))
    order = _order_by_effects(effects, [" ".join(values[i] for i in line) for line in lines])
    return [i for k in order for i in lines[k]]


def _collapse(values: list[str], spans: list[tuple[int, int]]) -> tuple[list[str], list[tuple[int, int]]]:
    """Drop a ``;`` that follows another ``;``, ``{`` or ``}`` (or starts the stream)."""
    out_v: list[str] = []
    out_s: list[tuple[int, int]] = []
    for v, s in zip(values, spans, strict=True):
        if v == ";" and (not out_v or out_v[-1] in (";", "{", "}")):
            continue
        out_v.append(v)
        out_s.append(s)
    return out_v, out_s


def normalize_cell(source: str, variables: set[str], given: GivenCode, *, tree: ast.Module | None = None,
                   parsed: bool | None = None) -> NormalizedCell:
    """Normalise one code cell (see the module docstring).

    Parameters
    ----------
    source : str
        The cell's code.
    variables : set of str
        Names to turn into ``V`` wherever they are used as names: the variables the
        student binds anywhere in the notebook, less the notebook's fixed names.
    given : GivenCode
        The release notebook's code.
    tree : ast.Module, optional
        The cell's AST if already parsed (``parse(source)``).
    """
    tokens = tokenize(source)
    values = _values(tokens, variables)
    if tree is None and parsed is not False:
        tree = parse(source)
    cell = NormalizedCell(source)
    if tree is None:
        cell.fallback = True
        keep = []
        for i, tok in enumerate(tokens):
            line_start = source.rfind("\n", 0, tok.start) + 1
            line_end = source.find("\n", tok.start)
            line_end = len(source) if line_end < 0 else line_end
            if tok.kind in _REAL and source[line_start:line_end].strip() in given.lines:
                if not cell.given or cell.given[-1] != (line_start, line_end):
                    cell.given.append((line_start, line_end))
                continue
            keep.append(i)
        keep = _reorder_lines(source, tokens, values, keep)
    else:
        c = _Cell(source, tree, tokens, values, given)
        keep = c.order(tree.body, 0, len(tokens))
        cell.given = c.given_spans
    cell.values, cell.spans = _collapse([values[i] for i in keep], [(tokens[i].start, tokens[i].end) for i in keep])
    while cell.values and cell.values[-1] in ("}", ";"):  # trailing structure says nothing
        cell.values.pop()
        cell.spans.pop()
    return cell
