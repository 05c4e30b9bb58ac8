"""The eager tape: PyTorch-style recording of the tensors made with requires_grad=True, on a fast path.

Most programs never open a transform: they build a loss from tensors and call `backward()`. For them
every operation goes straight here (see `trace.bind`), and is applied in one pass over its arguments
(`ReverseTrace.record`): values opened, parents collected, the numpy function called, one graph node
recorded, one box made. There is no search for the innermost trace and no second dispatch. A box of
any other trace among the arguments (a transform's, a Dual) sends the call back to the general
dispatch (`trace.dispatch`), which is what keeps nested transforms exact.

Backward needs no separate fast path: the tape records plain arrays, so the table's rules, called on
a plain-array cotangent, run on arrays (every primitive called without boxes is its numpy function);
a cotangent that is a box of a transform (`backward(gradient=...)` inside `grad`) makes the same rules
record, so that derivative can be differentiated again.
"""

from __future__ import annotations

from .graph import ReverseTrace


class EagerTrace(ReverseTrace):
    """The tape of tensors with requires_grad=True: the bottom level, so its values are plain arrays."""

    __slots__ = ()

    process = ReverseTrace.record  # every call it gets is one it records (or hands to dispatch)
