"""Which cells grading needs: the exercises' own cells and the cheap cells they depend on (imports,
definitions, constants), not the exploratory and training cells. When in doubt, every cell runs."""
from __future__ import annotations

import ast


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
    for n in ast.walk(node):
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


def select_cells(cells: list[tuple[int, str]], source) -> list[tuple[int, str]]:  # -> translated code
    """The code grading needs. Per cell, keep the cheap statements (imports, defs, classes, constants, prints)
    and blank the others (line numbers stay); then, until nothing changes, restore whole every cell that
    defines a global some kept code reads. Cells with syntax errors are kept as they are."""
    errors = set(source.syntax_errors())
    trees = {i: source.tree(i) for i, _ in cells}
    full = {i for i, _ in cells if i in errors or trees[i] is None}
    import builtins
    while True:
        defined, needed, dropped_defs = set(dir(builtins)), set(), {}
        for i, _ in cells:
            if i in full:
                stmts, rest = (trees[i].body if trees[i] else []), []
            else:
                stmts = [st for st in trees[i].body if _cheap_stmt(st) or _is_def(st)]
                rest = [st for st in trees[i].body if st not in stmts]
            for st in stmts:
                defined |= set(_top_names(st))
                needed |= _reads(st)
            for st in rest:
                for name in _top_names(st):
                    dropped_defs.setdefault(name, set()).add(i)
        missing = needed - defined
        extra = set().union(*(dropped_defs[n] for n in missing if n in dropped_defs)) - full
        if not extra:
            break
        full |= extra
    out = []
    for i, src in cells:
        if i in full:
            out.append((i, source.code(i)))
            continue
        kept = [st for st in trees[i].body if _cheap_stmt(st) or _is_def(st)]
        if len(kept) == len(trees[i].body):
            out.append((i, source.code(i)))
        elif kept:
            out.append((i, _only(source.code(i), kept)))
    return out


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
    for n in ast.walk(stmt):  # one walk (this runs for every statement of every submission)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            loaded.add(n.id)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            stored.add(n.id)
        elif isinstance(n, ast.arguments):
            args.update(a.arg for a in n.args + n.kwonlyargs + n.posonlyargs + [x for x in (n.vararg, n.kwarg) if x])
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return loaded - stored - args
    return loaded - args


def _top_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names]
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(stmt, (ast.For, ast.With, ast.If, ast.Try)):
        return [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return []
