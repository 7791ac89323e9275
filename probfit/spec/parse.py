"""Parse expression text from spec files with a whitelisted AST walker (never ``eval``)."""

from __future__ import annotations

import ast
from collections.abc import Mapping

from probfit.dsl import expr as ex
from probfit.errors import SpecError

__all__ = ["FUNCTIONS", "parse_expr"]

FUNCTIONS = {
    "exp": ex.exp,
    "log": ex.log,
    "sigmoid": ex.sigmoid,
    "softplus": ex.softplus,
    "softmax": ex.softmax,
    "log_softmax": ex.log_softmax,
    "prepend_zero": ex.prepend_zero,
}

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.MatMult: lambda a, b: a @ b,
}


def parse_expr(text: str, names: Mapping[str, ex.Expr], where: str) -> ex.Expr:
    """Turn ``text`` into an expression over the declared ``names``.

    Parameters
    ----------
    text
        Python-syntax expression, e.g. ``"X @ w + b"``.
    names
        Declared data and parameter handles by name.
    where
        The spec field holding the text, used in error messages.

    Raises
    ------
    SpecError
        On a syntax error, an unknown name or function, or any construct outside the whitelist.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise SpecError(f"{where}: malformed expression {text!r}: {err.msg}") from None
    return _Walker(names, where, text).visit(tree.body)


class _Walker:
    def __init__(self, names: Mapping[str, ex.Expr], where: str, text: str) -> None:
        self.names, self.where, self.text = names, where, text

    def fail(self, what: str) -> SpecError:
        return SpecError(f"{self.where}: {what} in expression {self.text!r}")

    def visit(self, node: ast.AST) -> ex.Expr:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            power = self.number(node.right)
            return self.visit(node.left) ** power
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            if isinstance(node.operand, ast.Constant):
                return ex.Const(self.number(node))
            inner = self.visit(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Constant):
            return ex.Const(self.number(node))
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise self.fail(f"unknown name {node.id!r} (declared: {sorted(self.names)})")
            return self.names[node.id]
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            return self.visit(node.value)[self.index(node.slice)]
        raise self.fail(f"unsupported syntax {type(node).__name__}")

    def number(self, node: ast.AST) -> float:
        sign = 1.0
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            node = node.operand
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return sign * float(node.value)
        raise self.fail("expected a number")

    def call(self, node: ast.Call) -> ex.Expr:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and func.value.id == "pf":
            fname = func.attr
        elif isinstance(func, ast.Name):
            fname = func.id
        else:
            raise self.fail("only calls of named functions are allowed")
        if fname not in FUNCTIONS:
            raise self.fail(f"unknown function {fname!r} (allowed: {sorted(FUNCTIONS)})")
        if len(node.args) != 1 or node.keywords:
            raise self.fail(f"{fname}() takes exactly one positional argument")
        return FUNCTIONS[fname](self.visit(node.args[0]))

    def index(self, node: ast.AST):
        if isinstance(node, ast.Tuple):
            return tuple(self.index_item(e) for e in node.elts)
        return self.index_item(node)

    def index_item(self, node: ast.AST):
        if isinstance(node, ast.Slice):
            parts = [None if p is None else int(self.number(p))
                     for p in (node.lower, node.upper, node.step)]
            return slice(*parts)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp):
            return int(self.number(node))
        return self.visit(node)
