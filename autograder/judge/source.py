"""The student's source, read statically in the judge (never executed here): which cell defines a name,
what a definition calls, whether it loops. Backs up, with evidence from the text, what traces suggest."""
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
    try:
        code = TransformerManager().transform_cell(source)
    except (SyntaxError, ValueError, RecursionError):
        return source, None
    return code, _parse(code)


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
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []


def dotted(node: ast.AST) -> str:
    """`torch.nn.functional.softmax` for an Attribute chain; `.sum` for a method on an expression."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base and not base.startswith(".") else f".{node.attr}"
    return ""


class StudentSource:
    def __init__(self, cells: list[tuple[int, str]]):
        self._cells = cells
        self._walked: dict[str, list[ast.AST]] = {}   # name -> every node of its definition

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
        found = None
        for i, _, tree in self._trees:
            if tree and any(name in _defined_names(s) for s in tree.body):
                found = i
        return found

    def cell(self, name: str) -> str | None:
        i = self.cell_index(name)
        return None if i is None else dict(self._cells)[i]

    def definition(self, name: str) -> ast.AST | None:
        i = self.cell_index(name)
        if i is None:
            return None
        tree = next(t for j, _, t in self._trees if j == i)
        node = None
        for stmt in tree.body:
            if name in _defined_names(stmt):
                node = stmt
        return node

    def _nodes(self, name: str) -> list[ast.AST]:
        """Every node of `name`'s definition (walked once per name: the checks ask several questions)."""
        if name not in self._walked:
            node = self.definition(name)
            self._walked[name] = [] if node is None else list(ast.walk(node))
        return self._walked[name]

    def calls(self, name: str) -> set[str]:
        return {dotted(n.func) for n in self._nodes(name) if isinstance(n, ast.Call)} - {""}

    def attributes(self, name: str) -> set[str]:
        """Every dotted attribute mentioned (called or not), e.g. `F.log_softmax` passed as a value."""
        return {dotted(n) for n in self._nodes(name) if isinstance(n, ast.Attribute)} - {""}

    def uses_matmul_operator(self, name: str) -> bool:
        return any(isinstance(n, (ast.BinOp, ast.AugAssign)) and isinstance(n.op, ast.MatMult)
                   for n in self._nodes(name))

    def loops(self, name: str) -> list[str]:
        kinds = {ast.For: "for", ast.While: "while", ast.ListComp: "list comprehension",
                 ast.GeneratorExp: "generator expression", ast.SetComp: "set comprehension",
                 ast.DictComp: "dict comprehension", ast.AsyncFor: "for"}
        return [kinds[type(n)] for n in self._nodes(name) if type(n) in kinds]

    def free_names(self, name: str) -> set[str]:
        """Global names a definition reads (used to decide which other cells it needs)."""
        nodes = self._nodes(name)
        assigned = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        args = {a.arg for n in nodes if isinstance(n, ast.arguments)
                for a in n.args + n.kwonlyargs + n.posonlyargs + [x for x in (n.vararg, n.kwarg) if x]}
        loaded = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        return loaded - assigned - args - {name}
