"""The eager tape: PyTorch-style recording of the tensors made with requires_grad=True, on a fast path.

Most programs never open a transform: they build a loss from tensors and call `backward()`. For them
every operation goes straight here (see `trace.bind`), and is applied in one pass over its arguments:
values opened, parents collected, the numpy function called, one graph node recorded, one box made.
There is no search for the innermost trace and no second dispatch. A box of any other trace among the
arguments (a transform's, a Dual) sends the call back to the general dispatch (`trace.dispatch`),
which is what keeps nested transforms exact.

Backward needs no separate fast path: the tape records plain arrays, so the table's rules, called on
a plain-array cotangent, run on arrays (every primitive called without boxes is its numpy function);
a cotangent that is a box of a transform (`backward(gradient=...)` inside `grad`) makes the same rules
record, so that derivative can be differentiated again.
"""

from __future__ import annotations

import numpy as np

from . import anomaly, trace
from .graph import GraphNode, ReverseTrace, aval
from .trace import BOX_TYPES, STATE


class EagerTrace(ReverseTrace):
    """The tape of tensors with requires_grad=True: the bottom level, so its values are plain arrays."""

    __slots__ = ()

    def process(self, prim, args, kwargs):
        vals = [*args]
        parents = []
        idx = []
        for i, a in enumerate(args):
            if type(a) in BOX_TYPES:
                t = a._trace
                if t is self:
                    parents.append(a._node)
                    idx.append(i)
                elif t is not None:  # a transform's box or a Dual: the general dispatch decides
                    return trace.dispatch(prim, args, kwargs)
                vals[i] = a._value
        try:
            ans = prim.impl(*vals, **kwargs)
        except ValueError as e:
            raise prim.error(vals, e) from None
        if not parents:  # only constants: nothing to record
            return trace.const_box(ans)
        try:
            shp, dt = ans.shape, ans.dtype
        except AttributeError:  # a Python number from a scalar function
            ans = np.asarray(ans)
            shp, dt = ans.shape, ans.dtype
        if not prim.save_args:  # rules that need only shapes and dtypes keep no arrays alive
            vals = [aval(v) for v in vals]
        node = GraphNode(
            prim, tuple(parents), tuple(idx), vals, kwargs, ans if prim.save_ans else None, shp, dt
        )
        if STATE.anomaly:
            anomaly.check_forward(prim, ans, node)
        return self.box(ans, self, node)
