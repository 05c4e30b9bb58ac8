"""wengert.jit side by side with JAX (jit), CasADi, PyTorch and hand-written numpy, in one run.

- Rosenbrock n = 100: the full Hessian (jit(hessian)) and a Hessian-vector product (jit(hvp));
- J of tanh(A x): jacfwd for n = 10 inputs, m = 1000 outputs; jacrev for n = 1000, m = 10;
- one SGD step of a 784-128-10 ReLU MLP (softmax cross-entropy, float32) at batch 128 and batch 1;
- the cheap-gradient ratio: jitted value_and_grad / jitted loss on that MLP;
- trace + compile time per signature, and the cost of a cache hit.

The systems of a table are timed in interleaved rounds (one block of each per round), so they meet the
same machine load; times are medians over the rounds with the interquartile range, and ratios are
medians of the per-round ratios (against wengert.jit in the derivative table: above 1, wengert.jit is
faster; against the numpy step in the MLP table). Run: python benchmarks/jit.py [--quick]
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

# One thread per system (numpy's BLAS, PyTorch, XLA), set before they load: on a shared machine a
# spinning BLAS thread pool distorts every number. --threads N gives each system N threads instead.
THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, THREADS)
if THREADS == "1":
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, table

import wengert as W

QUICK = "--quick" in sys.argv


def _calibrate(fn: Callable[[], object], block: float) -> int:
    """Calls of fn that take about `block` seconds."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= block / 2:
            return max(1, int(n * block / max(dt, 1e-9)))
        n *= 2


def compare(fns: dict[str, Callable[[], object]], block: float = 0.02, rounds: int = 21) -> dict:
    """Seconds per call of each function, timed in interleaved rounds (one block of each function per
    round), so that every system meets the same machine load; {name: [seconds per call, per round]}."""
    if QUICK:
        rounds = 7
    ns = {k: _calibrate(fn, block) for k, fn in fns.items()}
    out: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            n = ns[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[k].append((time.perf_counter() - t0) / n)
    return out


def measure(fn: Callable[[], object]) -> list[float]:
    return compare({"f": fn})["f"]


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a / b (rounds timed back to back, so the ratio sees one machine load)."""
    return statistics.median(x / y for x, y in zip(a, b))


def stats(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=4)
    return statistics.median(samples), q[0], q[2]


def fmt(samples, unit: float = 1e3) -> str:
    m, lo, hi = stats(samples)
    return f"{m * unit:.3f} [{lo * unit:.3f}-{hi * unit:.3f}]"


def machine() -> str:
    cpu = cpu_model()
    versions = [
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"wengert {W.__version__}",
    ]
    for mod in ("jax", "torch", "casadi"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod} not installed")
    try:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        load = "uptime unavailable"
    return (
        f"{cpu}, {os.cpu_count()} cores, {THREADS} thread(s) per system; {', '.join(versions)}\n"
        f"load: {load}"
    )


def optional(name: str, make: Callable[[], dict]) -> dict:
    try:
        return make()
    except ImportError:
        print(f"({name} not installed: skipped)")
        return {}


# --- Rosenbrock and tanh(Ax) ----------------------------------------------------------------------

rng = np.random.default_rng(0)
N = 100
X = rng.uniform(-1, 1, N)
V = rng.standard_normal(N)
JAC = {"jacfwd n=10, m=1000": (10, 1000), "jacrev n=1000, m=10": (1000, 10)}
A = {k: rng.standard_normal((m, n)) / np.sqrt(n) for k, (n, m) in JAC.items()}
XA = {k: rng.standard_normal(n) for k, (n, m) in JAC.items()}


def rosen(x):
    return W.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def wengert_ad(jit: bool) -> dict:
    wrap = W.jit if jit else (lambda f: f)
    hess = wrap(W.hessian(rosen))
    hvp = wrap(lambda x, v: W.hvp(rosen, x, v))
    cases = {"Hessian n=100": lambda: hess(X), "HVP n=100": lambda: hvp(X, V)}
    for k in JAC:
        f = lambda x, a=A[k]: W.tanh(a @ x)
        jf = wrap(W.jacfwd(f) if k.startswith("jacfwd") else W.jacrev(f))
        cases[k] = lambda jf=jf, k=k: jf(XA[k])
    return cases


def jax_ad() -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    ready = lambda y: y.block_until_ready()
    jrosen = lambda x: jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    x, v = jnp.asarray(X), jnp.asarray(V)
    hess = jax.jit(jax.hessian(jrosen))
    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(jrosen), (x,), (v,))[1])
    cases = {"Hessian n=100": lambda: ready(hess(x)), "HVP n=100": lambda: ready(hvp(x, v))}
    for k in JAC:
        a, xa = jnp.asarray(A[k]), jnp.asarray(XA[k])
        f = lambda x, a=a: jnp.tanh(a @ x)
        jf = jax.jit(jax.jacfwd(f) if k.startswith("jacfwd") else jax.jacrev(f))
        cases[k] = lambda jf=jf, xa=xa: ready(jf(xa))
    return cases


def casadi_ad() -> dict:
    import casadi as ca

    x, v = ca.SX.sym("x", N), ca.SX.sym("v", N)
    f = ca.sum1(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    hess = ca.Function("H", [x], [ca.densify(ca.hessian(f, x)[0])])
    hvp = ca.Function("Hv", [x, v], [ca.jtimes(ca.gradient(f, x), x, v)])
    cases = {"Hessian n=100": lambda: hess(X).full(), "HVP n=100": lambda: hvp(X, V).full()}
    for k, (n, _m) in JAC.items():
        xs = ca.SX.sym("x", n)
        y = ca.tanh(ca.mtimes(ca.DM(A[k]), xs))
        jf = ca.Function("J", [xs], [ca.densify(ca.jacobian(y, xs))])
        cases[k] = lambda jf=jf, k=k: jf(XA[k]).full()
    return cases


def torch_ad() -> dict:
    import torch
    from torch import func

    torch.set_num_threads(int(THREADS))
    trosen = lambda x: torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    x, v = torch.tensor(X), torch.tensor(V)
    cases = {
        "Hessian n=100": lambda: func.hessian(trosen)(x),
        "HVP n=100": lambda: func.jvp(func.grad(trosen), (x,), (v,))[1],
    }
    for k in JAC:
        a, xa = torch.tensor(A[k]), torch.tensor(XA[k])
        f = lambda x, a=a: torch.tanh(a @ x)
        jf = func.jacfwd(f) if k.startswith("jacfwd") else func.jacrev(f)
        cases[k] = lambda jf=jf, xa=xa: jf(xa)
    return cases


def numpy_ad() -> dict:
    """Derivatives written out by hand (no AD)."""

    def hess(x):
        h = np.zeros((N, N))
        d = np.zeros(N)
        d[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
        d[1:] += 200
        h[np.arange(N), np.arange(N)] = d
        off = -400 * x[:-1]
        h[np.arange(N - 1), np.arange(1, N)] = off
        h[np.arange(1, N), np.arange(N - 1)] = off
        return h

    def hvp(x, v):
        return hess(x) @ v

    cases = {"Hessian n=100": lambda: hess(X), "HVP n=100": lambda: hvp(X, V)}
    for k in JAC:
        a = A[k]
        cases[k] = lambda a=a, k=k: (1 - np.tanh(a @ XA[k]) ** 2)[:, None] * a
    return cases


# --- the MLP step ---------------------------------------------------------------------------------

D, H, C, LR = 784, 128, 10, 0.05


def mlp_data(batch: int, seed: int = 0):
    r = np.random.default_rng(seed)
    x = r.random((batch, D), dtype=np.float32)
    y = r.integers(0, C, batch)
    params = (
        (r.standard_normal((H, D)) * np.sqrt(2 / D)).astype(np.float32),
        np.zeros(H, np.float32),
        (r.standard_normal((C, H)) * np.sqrt(2 / H)).astype(np.float32),
        np.zeros(C, np.float32),
    )
    return params, x, y


def mlp_loss(p, x, y):
    h = W.relu(W.linear(x, p[0], p[1]))
    return W.cross_entropy(W.linear(h, p[2], p[3]), y)


def sgd_step(p, x, y):
    loss, g = W.value_and_grad(mlp_loss)(p, x, y)
    return loss, tuple(a - LR * b for a, b in zip(p, g))


def wengert_mlp(batch: int, jit: bool) -> Callable:
    params, x, y = mlp_data(batch)
    if jit:
        step = W.jit(sgd_step)
        state = {"p": params}

        def run():
            state["p"] = step(state["p"], x, y)[1]

        return run
    ps = [W.tensor(p, requires_grad=True) for p in params]
    xt = W.as_tensor(x)

    def eager():
        for p in ps:
            p.grad = None
        loss = W.cross_entropy(W.linear(W.relu(W.linear(xt, ps[0], ps[1])), ps[2], ps[3]), y)
        loss.backward()
        with W.no_grad():
            for p in ps:
                v = p.numpy()
                v -= LR * p.grad.numpy()

    return eager


def numpy_mlp(batch: int) -> Callable:
    """The forward and backward pass written out by hand (the floor for a numpy-based library)."""
    params, x, y = mlp_data(batch)
    w1, b1, w2, b2 = (p.copy() for p in params)
    onehot = np.eye(C, dtype=np.float32)[y]
    rows = np.arange(batch)

    def step():
        a = x @ w1.T
        a += b1
        h = np.maximum(a, 0)
        z = h @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        _loss = -np.log(p[rows, y]).mean()
        dz = (p - onehot) / batch
        gw2 = dz.T @ h
        gb2 = dz.sum(0)
        dh = dz @ w2
        dh *= h > 0
        gw1 = dh.T @ x
        gb1 = dh.sum(0)
        for v, g in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
            v -= LR * g

    return step


def torch_mlp(batch: int) -> Callable:
    import torch

    torch.set_num_threads(int(THREADS))
    params, x, y = mlp_data(batch)
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    F = torch.nn.functional

    def step():
        for p in ps:
            p.grad = None
        F.cross_entropy(F.linear(F.relu(F.linear(xt, ps[0], ps[1])), ps[2], ps[3]), yt).backward()
        with torch.no_grad():
            for p in ps:
                p -= LR * p.grad

    return step


def jax_mlp(batch: int) -> Callable:
    import jax
    import jax.numpy as jnp

    params, x, y = mlp_data(batch)

    def loss(ps, x, y):
        w1, b1, w2, b2 = ps
        h = jnp.maximum(x @ w1.T + b1, 0)
        z = h @ w2.T + b2
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(z.shape[0]), y])

    @jax.jit
    def step(ps, x, y):
        value, g = jax.value_and_grad(loss)(ps, x, y)
        return value, [p - LR * gi for p, gi in zip(ps, g)]

    state = {"p": [jnp.asarray(p) for p in params]}
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        _, state["p"] = step(state["p"], xj, yj)
        state["p"][0].block_until_ready()

    return run


# --- main -----------------------------------------------------------------------------------------


def ad_table() -> None:
    systems = {"wengert eager": wengert_ad(False), "wengert.jit": wengert_ad(True)}
    systems["JAX jit"] = optional("jax", jax_ad)
    systems["CasADi"] = optional("casadi", casadi_ad)
    systems["torch.func"] = optional("torch", torch_ad)
    systems["numpy by hand"] = numpy_ad()
    systems = {k: v for k, v in systems.items() if v}
    cases = list(systems["wengert.jit"])
    per_case = {c: compare({s: systems[s][c] for s in systems}) for c in cases}
    res = {s: {c: per_case[c][s] for c in cases} for s in systems}
    ref = res["wengert.jit"]
    rows = []
    for c in ref:
        row = [c]
        for s in systems:
            r = paired_ratio(res[s][c], ref[c])
            row.append(fmt(res[s][c]) + ("" if s == "wengert.jit" else f" ({r:.2f}x)"))
        rows.append(row)
    print("\nDerivatives, float64, ms per call: median [interquartile range] (that time / wengert.jit)")
    print(table(rows, ["case", *systems]))
    if "JAX jit" in res:
        for c, target in (
            ("Hessian n=100", 2.0),
            ("HVP n=100", 3.0),
            ("jacfwd n=10, m=1000", 2.0),
            ("jacrev n=1000, m=10", 2.0),
        ):
            r = paired_ratio(ref[c], res["JAX jit"][c])
            print(f"  {c}: wengert.jit / JAX jit = {r:.2f} (target <= {target})")


def mlp_table() -> None:
    rows = []
    for batch in (128, 1):
        systems = {
            "numpy by hand": numpy_mlp(batch),
            "wengert eager": wengert_mlp(batch, False),
            "wengert.jit": wengert_mlp(batch, True),
        }
        for name, make in (("PyTorch eager", torch_mlp), ("JAX jit", jax_mlp)):
            try:
                systems[name] = make(batch)
            except ImportError:
                print(f"({name} not installed: skipped)")
        res = compare(systems)
        ref = res["numpy by hand"]
        for s, samples in res.items():
            rows.append([f"batch {batch}", s, fmt(samples), f"{paired_ratio(samples, ref):.2f}"])
    print("\n784-128-10 ReLU MLP SGD step, float32, ms per step: median [IQR]; ratio to the numpy step")
    print(table(rows, ["batch", "system", "ms", "/ numpy"]))


def cheap_gradient_and_overheads() -> None:
    params, x, y = mlp_data(128)
    loss = W.jit(mlp_loss)
    vg = W.jit(W.value_and_grad(mlp_loss))
    res = compare({"loss": lambda: loss(params, x, y), "vg": lambda: vg(params, x, y)})
    tl, tvg = res["loss"], res["vg"]
    r = paired_ratio(tvg, tl)
    print("\nCheap gradient (MLP, batch 128, float32, jitted):")
    print(f"  loss {fmt(tl)} ms, value_and_grad {fmt(tvg)} ms: ratio {r:.2f} (target <= 2.0)")

    rows = []
    signatures = {
        "MLP SGD step (batch 128)": (sgd_step, (params, x, y)),
        "Rosenbrock hessian": (W.hessian(rosen), (X,)),
        "Rosenbrock hvp": (lambda x, v: W.hvp(rosen, x, v), (X, V)),
        "tanh(Ax) jacrev": (
            W.jacrev(lambda x: W.tanh(A["jacrev n=1000, m=10"] @ x)),
            (XA["jacrev n=1000, m=10"],),
        ),
    }
    for name, (f, args) in signatures.items():
        j = W.jit(f)
        j(*args)
        info = j.cache_info()
        n_eq = len(j.lower(*args).equations)
        rows.append(
            [name, f"{info.trace_seconds * 1e3:.2f}", f"{info.compile_seconds * 1e3:.2f}", str(n_eq)]
        )
    print("\nFirst call of a signature: trace + simplify, and emit + compile (ms)")
    print(table(rows, ["function", "trace+simplify ms", "emit+compile ms", "equations"]))
    ident = W.jit(lambda x: x)
    small = np.ones(3)
    hit = measure(lambda: ident(small))
    pick = W.jit(lambda p, x, y: y)  # the MLP step's arguments (a tuple of 4 arrays and 2 arrays)
    hit6 = measure(lambda: pick(params, x, y))
    print(
        "\nCache hit (flatten the arguments, look up the signature, call, rebuild the result), on "
        f"programs with no equations: 1 array {fmt(hit, 1e6)} us; the MLP step's 6 arrays "
        f"{fmt(hit6, 1e6)} us (target <= 10 us)"
    )


def main() -> None:
    print(machine())
    ad_table()
    mlp_table()
    cheap_gradient_and_overheads()


if __name__ == "__main__":
    main()
