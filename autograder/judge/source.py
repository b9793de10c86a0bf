"""The student's source, read statically in the judge (never executed here): which cell defines a name, what a
definition calls, whether it loops, and which cells grading needs at all. Each cell is parsed once and each
definition walked once; these are the judge's only AST helpers."""
from __future__ import annotations

import ast
from functools import cached_property

from IPython.core.inputtransformer2 import TransformerManager


def translate(source: str) -> str:
    """IPython syntax (magics, !shell) to plain Python, as the jail will run it. A cell that already parses as
    Python (nearly all) is kept as it is: IPython's escapes are all syntax errors in Python, and its
    tokenizing translator costs more than the rest of reading a notebook."""
    return _translate(source)[0]


def _translate(source: str) -> tuple[str, ast.Module | None]:
    """The translated code and its syntax tree (None for a syntax error), each cell parsed once."""
    tree = _parse(source)
    if tree is not None:
        return source, tree
    if source in _TRANSLATED:
        code = _TRANSLATED[source]
    else:
        try:
            code = TransformerManager().transform_cell(source)
        except (SyntaxError, ValueError, RecursionError):
            code = None   # IPython cannot read it either: a syntax error
        if len(_TRANSLATED) >= _TRANSLATED_MAX:
            _TRANSLATED.clear()
        _TRANSLATED[source] = code
    return (source, None) if code is None else (code, _parse(code))


# IPython's translation of the cells that need one, by source: a judge grades a class one notebook after another,
# and the cells with magics are nearly always the instructor's own (`%matplotlib inline` in the imports cell),
# the same in every notebook; translating one costs ~1 ms, half as much as parsing the whole notebook. Only the code is
# kept: trees are parsed per notebook, so nothing a check does with one can reach another student's.
_TRANSLATED: dict[str, str | None] = {}
_TRANSLATED_MAX = 256


def walk(node: ast.AST) -> list[ast.AST]:
    """`list(ast.walk(node))`, the same nodes in the same order, ~2.5x faster (no generator per node): the judge
    walks every statement of every notebook."""
    out = [node]
    for n in out:   # grows as it goes: breadth first, as ast.walk
        for field in n._fields:
            value = getattr(n, field, None)
            if isinstance(value, ast.AST):
                out.append(value)
            elif isinstance(value, list):
                out.extend(item for item in value if isinstance(item, ast.AST))
    return out


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _defined_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [n.id for t in targets for n in walk(t) if isinstance(n, ast.Name)]
    return []


def _globals_writes(stmt: ast.stmt) -> set[str]:
    """Names a statement binds through the module's namespace: `globals()["x"] = ...`, `globals().update(x=...)`,
    `globals().update({"x": ...})` (constant names only; the jail reports what the others did)."""
    names: set[str] = set()
    for node in walk(stmt):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and _is_globals(node.value) \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            names.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update" \
                and _is_globals(node.func.value):
            names |= {k.arg for k in node.keywords if k.arg}
            for arg in node.args:
                if isinstance(arg, ast.Dict):
                    names |= {k.value for k in arg.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return names


def _is_globals(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("globals", "vars",
                                                                                             "locals")


def _aliases_of(stmt: ast.AST) -> dict[str, str]:
    if isinstance(stmt, ast.Import):
        return {(a.asname or a.name).split(".")[0]: (a.name if a.asname else a.name.split(".")[0])
                for a in stmt.names}
    if isinstance(stmt, ast.ImportFrom) and stmt.module:
        return {a.asname or a.name: f"{stmt.module}.{a.name}" for a in stmt.names if a.name != "*"}
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, (ast.Name, ast.Attribute)):
        target = dotted(stmt.value)
        return {t.id: target for t in stmt.targets if isinstance(t, ast.Name) and target}
    return {}


def _resolve(name: str, table: dict[str, str], depth: int = 0) -> str:
    """`name` with its first part replaced by what it stands for, repeatedly (`F.softmax` ->
    `torch.nn.functional.softmax`)."""
    head, _, rest = name.partition(".")
    if head in table and depth < 8 and table[head] != head:
        return _resolve(table[head] + ("." + rest if rest else ""), table, depth + 1)
    return name


def dotted(node: ast.AST) -> str:
    """`torch.nn.functional.softmax` for an Attribute chain; `.sum` for a method on an expression."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base and not base.startswith(".") else f".{node.attr}"
    return ""


class StudentSource:
    def __init__(self, cells: list[tuple[int, str]], *, labels: dict[int, str] | None = None,
                 exercise_cells: dict[str, int] | None = None):
        self._cells = cells
        self._labels = labels or {}                   # index -> how the student finds the cell
        self._exercise_cells = exercise_cells or {}   # exercise -> the index of its nbgrader cell
        self._walked: dict[str, list[ast.AST]] = {}   # name -> every node of its definition
        self._resolved: dict[str, frozenset[str]] = {}   # name -> resolved_names(name)

    def exercise_cell(self, name: str) -> int | None:
        """The cell that is `name`'s exercise cell: the one nbgrader marks with grade_id `name`, else the first
        cell whose top level defines `name` with def or class."""
        if name in self._exercise_cells:
            return self._exercise_cells[name]
        for i, _, tree in self._trees:
            if tree and any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.name == name
                            for s in tree.body):
                return i
        return None

    def rebindings(self, name: str) -> list[int]:
        """Cells after `name`'s exercise cell that bind it again at their top level: a def or class, an
        assignment, `globals()["name"] = ...` or `globals().update(name=...)`."""
        first = self.exercise_cell(name)
        return [] if first is None else [i for i in self._binders.get(name, []) if i > first]

    @cached_property
    def _binders(self) -> dict[str, list[int]]:
        """name -> the cells whose top level binds it (one walk of the notebook, for every name)."""
        found: dict[str, list[int]] = {}
        # only a cell that names globals(), vars() or locals() can bind through them: walk no other
        through = {i for i, code in self._code.items() if any(w in code for w in ("globals", "vars", "locals"))}
        for i, stmt in self._top_level:
            for name in set(_defined_names(stmt)) | (_globals_writes(stmt) if i in through else set()):
                if i not in found.setdefault(name, []):
                    found[name].append(i)
        return found

    @cached_property
    def _top_level(self) -> list[tuple[int, ast.stmt]]:
        """Every top-level statement of the notebook, in order, with its cell (cells that do not parse: none)."""
        return [(i, stmt) for i, _, tree in self._trees for stmt in (tree.body if tree else [])]

    def cell_label(self, index: int) -> str:
        """The cell as the student finds it in Jupyter ("cell 12 of lesson.ipynb")."""
        return self._labels.get(index, f"code cell {index + 1}")

    @cached_property
    def _translated(self) -> dict[int, tuple[str, ast.Module | None]]:
        return {i: _translate(src) for i, src in self._cells}

    @cached_property
    def _trees(self) -> list[tuple[int, str, ast.Module | None]]:
        return [(i, src, self._translated[i][1]) for i, src in self._cells]

    @cached_property
    def _code(self) -> dict[int, str]:
        return {i: code for i, (code, _) in self._translated.items()}

    def code(self, index: int) -> str:
        """The cell's code, translated to plain Python."""
        return self._code[index]

    def tree(self, index: int) -> ast.Module | None:
        """The cell's syntax tree (None for a syntax error)."""
        return self._tree_of[index]

    @cached_property
    def _tree_of(self) -> dict[int, ast.Module | None]:
        return {i: t for i, _, t in self._trees}

    def syntax_errors(self) -> list[int]:
        return [i for i, _, tree in self._trees if tree is None]

    def cell_index(self, name: str) -> int | None:
        """The last cell whose top level defines `name` (as the notebook's final state would have it)."""
        return self._definitions.get(name, (None, None))[0]

    @cached_property
    def _definitions(self) -> dict[str, tuple[int, ast.stmt]]:
        """name -> the last top-level statement defining it, and its cell (one pass over the notebook: the rule
        checks ask for the definition of every name a graded function reads)."""
        return {name: (i, stmt) for i, stmt in self._top_level for name in _defined_names(stmt)}

    def cell(self, name: str) -> str | None:
        i = self.cell_index(name)
        return None if i is None else dict(self._cells)[i]

    def definition(self, name: str) -> ast.AST | None:
        return self._definitions.get(name, (None, None))[1]

    def _nodes(self, name: str) -> list[ast.AST]:
        """Every node of `name`'s definition (walked once per name: the checks ask several questions)."""
        if name not in self._walked:
            node = self.definition(name)
            self._walked[name] = [] if node is None else walk(node)
        return self._walked[name]

    def calls(self, name: str) -> set[str]:
        return {dotted(n.func) for n in self._nodes(name) if isinstance(n, ast.Call)} - {""}

    def attributes(self, name: str) -> set[str]:
        """Every dotted attribute mentioned (called or not), e.g. `F.log_softmax` passed as a value."""
        return {dotted(n) for n in self._nodes(name) if isinstance(n, ast.Attribute)} - {""}

    def uses_matmul_operator(self, name: str) -> bool:
        return self.uses_operator(name, (ast.MatMult,))

    def uses_operator(self, name: str, operators: tuple) -> bool:
        """Whether the definition applies one of these ast operators (`@`, `@=`)."""
        return any(isinstance(n, (ast.BinOp, ast.AugAssign)) and isinstance(n.op, operators)
                   for n in self._nodes(name))

    @cached_property
    def _aliases(self) -> dict[str, str]:
        """Top-level names that stand for something else: imports (`import torch.nn.functional as F`,
        `from torch import softmax as sm`) and plain rebindings (`sm = torch.softmax`), notebook-wide."""
        aliases: dict[str, str] = {}
        for _, stmt in self._top_level:
            aliases.update(_aliases_of(stmt))
        return aliases

    def resolved_names(self, name: str) -> set[str]:
        """Every dotted name the definition reads (called or passed as a value; `getattr(m, "const")` too),
        with aliases followed to what they stand for: `sm(x)` after `from torch import softmax as sm` is
        `torch.softmax`."""
        if name not in self._resolved:
            self._resolved[name] = frozenset(self._resolve_names(name))
        return set(self._resolved[name])

    def _resolve_names(self, name: str) -> set[str]:
        nodes = self._nodes(name)
        local: dict[str, str] = {}
        for n in nodes:
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign)):
                local.update(_aliases_of(n))
        table = {**self._aliases, **local}
        found = set()
        for n in nodes:
            if isinstance(n, (ast.Attribute, ast.Name)) and isinstance(n.ctx, ast.Load):
                found.add(dotted(n))
            elif isinstance(n, ast.Call) and dotted(n.func) == "getattr" and len(n.args) >= 2 \
                    and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str):
                found.add(f"{dotted(n.args[0]) or ''}.{n.args[1].value}")
        found |= {target for target in local.values()}
        return {_resolve(d, table) for d in found if d} - {""}

    def needed_cells(self, graded: tuple[str, ...] = ()) -> list[tuple[int, str]]:
        """The translated code grading `graded` needs (see `needed_cells`)."""
        return needed_cells(self._cells, self, graded)

    def loops(self, name: str) -> list[str]:
        """The Python loops in the definition: for/while, comprehensions, and the loop-like builtins (`map`,
        `filter`, `functools.reduce`, `itertools`), each in words."""
        kinds = {ast.For: "for", ast.While: "while", ast.ListComp: "list comprehension",
                 ast.GeneratorExp: "generator expression", ast.SetComp: "set comprehension",
                 ast.DictComp: "dict comprehension", ast.AsyncFor: "for"}
        found = [kinds[type(n)] for n in self._nodes(name) if type(n) in kinds]
        for call in self.resolved_names(name):
            if call in ("map", "filter", "functools.reduce", "reduce") or call.startswith("itertools."):
                found.append(f"`{call}`")
            elif call == name and isinstance(self.definition(name), (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append("recursion (it calls itself)")
        return found


# ---------------------------------------------------------------- which cells grading needs
_CHEAP_CALLS = {"torch.device", "torch.cuda.is_available", "torch.manual_seed", "device", "int", "float", "str",
                "len", "range", "tuple", "list", "dict", "set", "np.random.seed", "random.seed",
                "torch.backends.mps.is_available", "torch.set_printoptions", "np.set_printoptions",
                "plt.rcParams.update", "warnings.filterwarnings", "get_ipython().run_line_magic"}


def _call_name(node: ast.Call) -> str:
    parts, f = [], node.func
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if isinstance(f, ast.Name):
        parts.append(f.id)
    elif isinstance(f, ast.Call):
        parts.append(_call_name(f) + "()")
    return ".".join(reversed(parts))


def _cheap_expr(node: ast.AST) -> bool:
    for n in walk(node):
        if isinstance(n, ast.Call):
            if _call_name(n) not in _CHEAP_CALLS:
                return False
        elif isinstance(n, (ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.DictComp, ast.SetComp,
                            ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _cheap_stmt(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.Pass)):
        return all(_cheap_expr(d) for d in getattr(stmt, "decorator_list", []))
    if isinstance(stmt, ast.ClassDef):
        return all(_cheap_expr(d) for d in stmt.decorator_list + stmt.bases + stmt.keywords)
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return stmt.value is None or _cheap_expr(stmt.value)
    if isinstance(stmt, ast.Expr):  # a docstring, or a line magic such as %matplotlib inline
        return isinstance(stmt.value, ast.Constant) or (isinstance(stmt.value, ast.Call) and _cheap_expr(stmt.value))
    return False


def needed_cells(cells: list[tuple[int, str]], source: "StudentSource",
                 graded: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    """The code grading needs: the graded names' definitions and what they read (other definitions, imports,
    constants), not the exploratory and training cells; when in doubt, a cell runs.

    Per cell, the cheap statements (imports, defs, classes, constants) are candidates and the others are blanked
    (line numbers stay). Starting from the graded names (or, without any, from everything the candidates
    read), the names needed are followed through their definitions; a needed name that only a blanked statement
    binds brings that statement's whole cell back, until nothing changes. Then a candidate that binds nothing
    needed and reads a name nothing kept binds is dropped too, so that no kept line fails (and stops its cell)
    for want of a blanked one. Cells with syntax errors are kept as they are."""
    import builtins
    cheap, top_names, reads = _PerStatement(_cheap_stmt), _PerStatement(_top_names), _PerStatement(_reads)
    errors = set(source.syntax_errors())
    trees = {i: source.tree(i) for i, _ in cells}
    full = {i for i, _ in cells if i in errors or trees[i] is None}
    while True:
        kept = {i: [st for st in (trees[i].body if trees[i] else []) if i in full or cheap[st] or _is_def(st)]
                for i, _ in cells}
        binders: dict[str, list[ast.stmt]] = {}
        blanked: dict[str, set[int]] = {}
        for i, _ in cells:
            for st in trees[i].body if trees[i] else []:
                for name in top_names[st]:
                    if st in kept[i]:
                        binders.setdefault(name, []).append(st)
                    else:
                        blanked.setdefault(name, set()).add(i)
        needed = set(graded) or {n for sts in kept.values() for st in sts for n in reads[st]}
        frontier = set(needed)
        while frontier:
            name = frontier.pop()
            for st in binders.get(name, []):
                new = reads[st] - needed
                needed |= new
                frontier |= new
        missing = {n for n in needed if n not in binders and n in blanked}
        extra = set().union(*(blanked[n] for n in missing)) - full
        if not extra:
            break
        full |= extra
    available = set(dir(builtins)) | set(binders)
    out = []
    for i, _ in cells:
        stmts = kept[i] if i in full else [st for st in kept[i] if _is_def(st) or isinstance(st, (ast.Import, ast.ImportFrom))
                                           or set(top_names[st]) & needed or reads[st] <= available]
        if trees[i] is not None and len(stmts) == len(trees[i].body):
            out.append((i, source.code(i)))
        elif i in full:
            out.append((i, source.code(i)))
        elif stmts:
            out.append((i, _only(source.code(i), stmts)))
    return out


class _PerStatement(dict):
    """`fn`'s answer for each statement, worked out once: needed_cells' loop asks again on every round."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, stmt: ast.stmt):
        self[stmt] = answer = self.fn(stmt)
        return answer


def _is_def(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _only(code: str, stmts: list[ast.stmt]) -> str:
    """`code` with every line outside `stmts` blanked, so line numbers in tracebacks stay right."""
    lines = code.splitlines()
    keep = set()
    for st in stmts:
        first = min([st.lineno] + [d.lineno for d in getattr(st, "decorator_list", [])])
        keep.update(range(first, (st.end_lineno or st.lineno) + 1))
    return "\n".join(line if n in keep else "" for n, line in enumerate(lines, 1)) + "\n"


def _reads(stmt: ast.stmt) -> set[str]:
    """Global names a top-level statement reads (inside definitions: names not bound locally)."""
    loaded, stored, args = set(), set(), set()
    for n in walk(stmt):  # one walk (this runs for every statement of every submission)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            loaded.add(n.id)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            stored.add(n.id)
        elif isinstance(n, ast.arguments):
            args.update(a.arg for a in n.args + n.kwonlyargs + n.posonlyargs + [x for x in (n.vararg, n.kwarg) if x])
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return loaded - stored - args
    return loaded - args


def _bound(target: ast.AST) -> list[str]:
    """The names an assignment target binds: `x`, `a, (b, *c)`; not `x[0]` or `x.attr` (they use x)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _bound(elt)]
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    return []


def _top_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [n for t in targets for n in _bound(t)]
    if isinstance(stmt, (ast.For, ast.With, ast.If, ast.Try)):
        return [n.id for n in walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return []
