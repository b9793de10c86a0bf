"""Which cells grading needs: the exercises' own cells and the cheap cells they depend on (imports,
definitions, constants), not the exploratory and training cells. When in doubt, every cell runs."""
from __future__ import annotations

import ast

from IPython.core.inputtransformer2 import TransformerManager

_CHEAP_VALUES = (ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.UnaryOp,
                 ast.BinOp, ast.IfExp, ast.Compare, ast.BoolOp, ast.Subscript, ast.keyword)
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


def cheap_cell(source: str) -> bool:
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError, RecursionError):
        return False
    return all(_cheap_stmt(s) for s in tree.body)


def _defines_code(source: str) -> bool:
    """A cell that defines a function or class at top level (an exercise cell, even with extra lines)."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError, RecursionError):
        return True
    return any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for s in tree.body)


def select_cells(cells: list[tuple[int, str]], source) -> list[tuple[int, str]]:
    """Keep cheap cells (imports, defs, constants) and every cell that is not cheap but defines a name a kept
    definition reads. Cells with syntax errors are kept (their error belongs in the feedback). If any global
    that a kept definition reads is defined only in a dropped cell, every cell runs."""
    errors = set(source.syntax_errors())
    keep = [(i, s) for i, s in cells if i in errors or cheap_cell(s) or _defines_code(s)]
    kept_ids = {i for i, _ in keep}
    defined_kept, needed = set(), set()
    for i, s in keep:
        try:
            tree = ast.parse(TransformerManager().transform_cell(s))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for stmt in tree.body:
            for name in _top_names(stmt):
                defined_kept.add(name)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                needed |= source.free_names(stmt.name)
    import builtins
    missing = needed - defined_kept - set(dir(builtins))
    dropped_defines = set()
    for i, s in cells:
        if i in kept_ids:
            continue
        try:
            tree = ast.parse(TransformerManager().transform_cell(s))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for stmt in tree.body:
            dropped_defines |= set(_top_names(stmt))
    if missing & dropped_defines:
        return list(cells)
    return keep


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
