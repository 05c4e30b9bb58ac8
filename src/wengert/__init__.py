"""wengert: automatic differentiation for Python.

Two faces on one core:

- the scalar graph of the paper "Automatic Differentiation" (Andrews, Hu, Ye): `Node`, `Dual`,
  `derivative`, and the paper's neurons and layers in `wengert.nn`;
- a tensor engine on numpy: `tensor`, `Tensor.backward`, and composable function transforms
  (`grad`, `vjp`, `jvp`, `jacfwd`, `jacrev`, `jacobian`, `hessian`, `hvp`, `taylor`, `checkpoint`).

Every derivative comes from one table of primitives (`wengert.core.primitives`).
"""

from . import distributed, nn, optim, solvers, uncertainty, vi
from .core.anomaly import AnomalyError, detect_anomaly
from .core.graph import FreedGraphError
from .core.primitive import DomainError
from .io import FormatError, load, save
from .ops import (
    abs,
    add,
    arccos,
    arcsin,
    arctan,
    argmax,
    argmin,
    astype,
    broadcast_to,
    cat,
    ceil,
    clip,
    clone,
    concatenate,
    cos,
    cosh,
    cross_entropy,
    div,
    divide,
    dot,
    equal,
    erf,
    exp,
    expand_dims,
    expm1,
    flatten,
    floor,
    gelu,
    greater,
    greater_equal,
    inner,
    isfinite,
    isnan,
    leaky_relu,
    less,
    less_equal,
    linear,
    log,
    log1p,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    multiply,
    neg,
    negative,
    norm,
    not_equal,
    one_hot,
    outer,
    permute,
    pow,
    power,
    relu,
    reshape,
    round,
    sigmoid,
    sign,
    silu,
    sin,
    sinh,
    softmax,
    softplus,
    sqrt,
    squeeze,
    stack,
    std,
    stop_gradient,
    sub,
    subtract,
    sum,
    swapaxes,
    take,
    tan,
    tanh,
    trace,
    transpose,
    unsqueeze,
    var,
    where,
)
from .program import (
    ConcretizationError,
    LeakedTracerError,
    Program,
    jit,
    program,
    source,
    trace_table,
)
from .program.batching import vmap
from .scalar import Dual, Node, derivative
from .seeding import manual_seed
from .solvers import ConvergenceError, LeastSquaresResult, least_squares, minimize_newton, newton
from .sparse import (
    elimination_jacobian,
    hessian_sparsity,
    jacobian_sparsity,
    linearize,
    sparse_hessian,
    sparse_jacobian,
)
from .taylor import TaylorPolynomial, taylor, taylor_expand
from .tensor import (
    Tensor,
    arange,
    as_tensor,
    bool_,
    enable_grad,
    eye,
    float32,
    float64,
    from_numpy,
    full,
    int32,
    int64,
    is_grad_enabled,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .transforms import (
    checkpoint,
    custom_jvp,
    custom_vjp,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    value_and_grad,
    vjp,
)
from .uncertainty import Uncertain, correlated, uncertain
from .vi import advi, hmc
from .viz import draw_graph

__version__ = "0.1.0"

# Subpackages reachable as attributes without importing them by hand; loaded on first use so that
# `import wengert` stays quick (data, testing, train and cli pull in loaders, checkers and argparse).
_LAZY = ("cli", "data", "testing", "train", "tree")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'wengert' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
