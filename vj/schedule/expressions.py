"""A safe, vectorised evaluator for Deforum schedule expressions.

Deforum handed schedule text to numexpr, whose `evaluate` ran `eval` on it: a settings file
shared on the internet could run any code (CVE-2023-39631). Here an expression is parsed
with Python's `ast` and only a whitelist of node types is accepted: numbers, the schedule
variables, calls of the allowed functions by bare name, arithmetic, comparisons and
boolean logic. Nothing else (attributes, subscripts, lambdas, comprehensions, strings,
keyword arguments, starred arguments) gets past `parse_expression`, and evaluation walks
the checked tree with numpy, so there is no path to `eval`, `compile`, `__import__` or a
Python object. All arithmetic is float64 numpy, so a huge exponent gives `inf` instantly
instead of a Python big-integer computation that never ends.

An expression is evaluated for a whole run of frames at once (`t` is an array).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from vj.errors import ConfigError

# Variables a schedule value may use. t: absolute frame index; max_f: last frame index
# (max_frames - 1); s: the seed; fps, bpm; beat = t * bpm / (60 * fps); sec = t / fps.
VALUE_VARIABLES = ("t", "max_f", "s", "fps", "bpm", "beat", "sec")
# A keyframe's frame may use these (it is evaluated once, not per frame).
FRAME_VARIABLES = ("max_f", "s", "fps", "bpm")
CONSTANTS: Mapping[str, float] = {"pi": math.pi, "e": math.e}

# Guards against denial of service by a hostile or broken settings file.
MAX_EXPRESSION_CHARS = 2_000
MAX_NODES = 400

Array = np.ndarray
Env = Mapping[str, "Array | float"]


def _nary(op: Callable[[Array, Array], Array]) -> Callable[..., Array]:
    def fn(*args: Array) -> Array:
        result = args[0]
        for arg in args[1:]:
            result = op(result, arg)
        return result
    return fn


def _where(cond: Array, a: Array, b: Array) -> Array:
    return np.where(np.asarray(cond) != 0, a, b)


def _clamp(x: Array, lo: Array, hi: Array) -> Array:
    return np.minimum(np.maximum(x, lo), hi)


def _round(x: Array, digits: Array | None = None) -> Array:
    # Halves to even, as Deforum's numexpr (and numpy) round: a shared file renders as its author saw it.
    if digits is None:
        return np.rint(x)
    scale = np.power(10.0, np.floor(digits))
    return np.rint(np.asarray(x) * scale) / scale


@dataclass(frozen=True, slots=True)
class _Fn:
    impl: Callable[..., Array]
    min_args: int
    max_args: int | None  # None = any number


_UNARY_FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log10": np.log10, "log2": np.log2, "log1p": np.log1p,
    "sqrt": np.sqrt, "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "sign": np.sign,
    # numexpr spellings, as Deforum settings files use them
    "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh,
}

FUNCTIONS: Mapping[str, _Fn] = {
    **{name: _Fn(impl, 1, 1) for name, impl in _UNARY_FUNCTIONS.items()},
    "atan2": _Fn(np.arctan2, 2, 2),
    "arctan2": _Fn(np.arctan2, 2, 2),
    "pow": _Fn(np.power, 2, 2),
    "fmod": _Fn(np.fmod, 2, 2),
    "min": _Fn(_nary(np.minimum), 1, None),
    "max": _Fn(_nary(np.maximum), 1, None),
    "round": _Fn(_round, 1, 2),
    "where": _Fn(_where, 3, 3),
    "clamp": _Fn(_clamp, 3, 3),
}

_BINARY: dict[type, Callable[[Array, Array], Array]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
    # numexpr's & and | are logical on comparisons; so are they here.
    ast.BitAnd: lambda a, b: np.logical_and(a != 0, b != 0).astype(np.float64),
    ast.BitOr: lambda a, b: np.logical_or(a != 0, b != 0).astype(np.float64),
}
_COMPARE: dict[type, Callable[[Array, Array], Array]] = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
    ast.Eq: np.equal, ast.NotEq: np.not_equal,
}
_OPERATOR_HINTS: dict[type, str] = {
    ast.BitXor: "'^' is not a power here: write a**b",
    ast.LShift: "shift operators are not supported",
    ast.RShift: "shift operators are not supported",
    ast.MatMult: "'@' is not supported",
}


class ExpressionError(ConfigError):
    """A schedule expression is invalid: names the schedule, the column and what was expected.

    str() reads like ``zoom: column 14: unknown function 'sinn'; expected one of abs, acos, ...``.
    """

    def __init__(self, source: str, key_path: str, column: int, problem: str, expected: str = "",
                 line: int = 1) -> None:
        super().__init__(source, key_path, expected or problem, problem)
        self.column = column
        self.line = line
        self.problem = problem
        self.hint = expected
        where = ": ".join(part for part in (source, key_path) if part)
        position = f"line {line}, column {column}" if line > 1 else f"column {column}"
        message = f"{where}: {position}: {problem}"
        if expected:
            message += f"; expected {expected}"
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Where:
    """Where an expression sits, for error messages: the schedule's name and the whole text."""

    source: str = ""  # file name, or "" for a bare string
    key_path: str = "expression"  # e.g. "zoom" or "schedules.zoom"
    text: str = ""  # the full schedule string the expression was cut from
    offset: int = 0  # character offset of the expression inside `text`

    def error(self, char_index: int, problem: str, expected: str = "") -> ExpressionError:
        """An error at `char_index` (0-based, inside the expression)."""
        absolute = self.offset + max(char_index, 0)
        before = self.text[:absolute] if self.text else ""
        line = before.count("\n") + 1
        column = absolute - (before.rfind("\n") + 1) + 1 if self.text else absolute + 1
        return ExpressionError(self.source, self.key_path, column, problem, expected, line)


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked expression; `evaluate` computes it for scalar or array variables."""

    text: str
    tree: ast.expr
    names: frozenset[str]
    where: Where

    @property
    def literal(self) -> float | None:
        """The value if the expression is just a (signed) number, else None.

        Whether a keyframe is a number to Deforum (interpolated) is decided on its text, by
        `vj.schedule.keyframes.deforum_number`: `1e-3` is a literal here but held there.
        """
        node = self.tree
        sign = 1.0
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            sign = -sign if isinstance(node.op, ast.USub) else sign
            node = node.operand
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return sign * float(node.value)  # type: ignore[arg-type]  # int or float, checked above
        return None

    def evaluate(self, env: Env) -> Array:
        """Evaluate with numpy; `env` holds each used variable as a float or an array."""
        with np.errstate(all="ignore"):
            return np.asarray(_evaluate(self.tree, env), dtype=np.float64)


def _char_column(text: str, byte_offset: int) -> int:
    """ast reports UTF-8 byte offsets; convert to a character index."""
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


_LEADING_ZEROS = re.compile(r"(?<![\w.])0+[1-9][0-9]*(?![\w.])")


def parse_expression(text: str, where: Where | None = None,
                     variables: tuple[str, ...] = VALUE_VARIABLES) -> Expression:
    """Parse and check `text`; raise `ExpressionError` (a ConfigError) naming the column."""
    where = where or Where(text=text)
    if len(text) > MAX_EXPRESSION_CHARS:
        raise where.error(MAX_EXPRESSION_CHARS, f"expression too long ({len(text)} characters)",
                          f"at most {MAX_EXPRESSION_CHARS} characters")
    if not text.strip():
        raise where.error(0, "empty expression", "a number or an expression")
    # The value may span lines inside a settings file; inside parentheses that is legal.
    # Python's tokenizer also ends lines at "\r": normalise so our line table matches its line numbers.
    source = "(" + text.replace("\r\n", "\n").replace("\r", "\n") + ")"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        column = max((err.offset or 1) - 2, 0)  # -1 for 1-based, -1 for the added "("
        if err.lineno and err.lineno > 1:
            column = sum(len(line) + 1 for line in source.split("\n")[: err.lineno - 1]) + (err.offset or 1) - 2
        zeros = _LEADING_ZEROS.search(text) if "leading zero" in err.msg else None
        if zeros:  # Python's own message is about octal prefixes, which no schedule means
            raise where.error(zeros.start(), f"number {zeros.group()} has a leading zero inside an expression",
                              f"{int(zeros.group())}, without the zero (on its own a plain number such as "
                              "05 is read as 5, as Deforum does)") from None
        raise where.error(min(column, len(text)), f"syntax error ({err.msg})",
                          "a number or an expression such as 1.0+0.5*sin(t/10)") from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise where.error(0, f"expression cannot be parsed ({type(err).__name__})",
                          "a simpler expression") from None
    names: set[str] = set()
    count = 0
    lines = source.split("\n")
    line_starts = [0]
    for line in lines[:-1]:
        line_starts.append(line_starts[-1] + len(line) + 1)

    def column_of(node: ast.AST) -> int:
        lineno = min(max(getattr(node, "lineno", 1), 1), len(lines))
        col = _char_column(lines[lineno - 1], getattr(node, "col_offset", 0))
        return max(line_starts[lineno - 1] + col - 1, 0)

    def check(node: ast.AST, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_NODES or depth > 100:
            raise where.error(column_of(node), "expression too complex", f"at most {MAX_NODES} terms")
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                raise where.error(column_of(node), f"unexpected {type(node.value).__name__} {node.value!r}",
                                  "a number")
            return
        if isinstance(node, ast.Name):
            if node.id in variables:
                names.add(node.id)
                return
            if node.id in CONSTANTS:
                return
            if node.id in FUNCTIONS:
                raise where.error(column_of(node), f"function '{node.id}' used without arguments",
                                  f"{node.id}(...)")
            if node.id in VALUE_VARIABLES:
                raise where.error(column_of(node), f"variable '{node.id}' is not available here",
                                  f"one of {', '.join(variables + tuple(CONSTANTS))}")
            raise where.error(column_of(node), f"unknown name '{node.id}'",
                              f"one of {', '.join(variables + tuple(CONSTANTS))}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise where.error(column_of(node), "only plain function calls are allowed",
                                  f"one of {', '.join(sorted(FUNCTIONS))}")
            fn = FUNCTIONS.get(node.func.id)
            if fn is None:
                raise where.error(column_of(node), f"unknown function '{node.func.id}'",
                                  f"one of {', '.join(sorted(FUNCTIONS))}")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise where.error(column_of(node), f"{node.func.id}: keyword or starred arguments",
                                  "positional arguments only")
            n = len(node.args)
            if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
                want = (str(fn.min_args) if fn.min_args == fn.max_args
                        else f"{fn.min_args} or more" if fn.max_args is None else f"{fn.min_args}-{fn.max_args}")
                raise where.error(column_of(node), f"{node.func.id}() takes {want} arguments, found {n}")
            for arg in node.args:
                check(arg, depth + 1)
            return
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                hint = _OPERATOR_HINTS.get(type(node.op), "operator not supported")
                raise where.error(column_of(node.right) - 1, hint, "one of + - * / // % ** & |")
            check(node.left, depth + 1)
            check(node.right, depth + 1)
            return
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.UAdd, ast.USub, ast.Not, ast.Invert)):
                raise where.error(column_of(node), "operator not supported", "+x, -x, not x or ~x")
            check(node.operand, depth + 1)
            return
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise where.error(column_of(node), "comparison not supported", "< <= > >= == !=")
            check(node.left, depth + 1)
            for comparator in node.comparators:
                check(comparator, depth + 1)
            return
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                check(value, depth + 1)
            return
        if isinstance(node, ast.IfExp):
            for part in (node.test, node.body, node.orelse):
                check(part, depth + 1)
            return
        kind = {ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
                ast.ListComp: "comprehension", ast.GeneratorExp: "comprehension", ast.SetComp: "comprehension",
                ast.DictComp: "comprehension", ast.NamedExpr: "assignment", ast.JoinedStr: "string",
                ast.Tuple: "tuple", ast.List: "list", ast.Dict: "dict", ast.Set: "set",
                ast.Starred: "starred expression", ast.Await: "await", ast.Yield: "yield",
                ast.YieldFrom: "yield", ast.Slice: "slice"}.get(type(node), type(node).__name__)
        raise where.error(column_of(node), f"{kind} is not allowed", "numbers, variables, functions and operators")

    check(tree.body, 0)
    return Expression(text, tree.body, frozenset(names), where)


def _evaluate(node: ast.expr, env: Env) -> Array | float:
    """Walk a tree that `parse_expression` has already checked."""
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # parse_expression allows int and float only
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](np.asarray(_evaluate(node.left, env), dtype=np.float64),
                                      np.asarray(_evaluate(node.right, env), dtype=np.float64))
    if isinstance(node, ast.UnaryOp):
        operand = np.asarray(_evaluate(node.operand, env), dtype=np.float64)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return (operand == 0).astype(np.float64)
        return operand
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [np.asarray(_evaluate(a, env), dtype=np.float64) for a in node.args]
        return FUNCTIONS[node.func.id].impl(*args)
    if isinstance(node, ast.Compare):
        left = np.asarray(_evaluate(node.left, env), dtype=np.float64)
        result: Array | None = None
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = np.asarray(_evaluate(comparator, env), dtype=np.float64)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left = right
        assert result is not None
        return np.asarray(result, dtype=np.float64)
    if isinstance(node, ast.BoolOp):
        values = [np.asarray(_evaluate(v, env), dtype=np.float64) != 0 for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return np.asarray(out, dtype=np.float64)
    if isinstance(node, ast.IfExp):
        return _where(np.asarray(_evaluate(node.test, env)), np.asarray(_evaluate(node.body, env)),
                      np.asarray(_evaluate(node.orelse, env)))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # parse_expression refuses these


def evaluate_text(text: str, env: Env, variables: tuple[str, ...] = VALUE_VARIABLES) -> Array:
    """Parse and evaluate in one go (tests, the CLI's bare expressions)."""
    return parse_expression(text, Where(text=text), variables).evaluate(env)
