"""Forward accumulation: tangents travel with values through one sweep; nothing is recorded."""

from __future__ import annotations

from . import anomaly
from .trace import STATE, Trace, unwrap_for


class ForwardTrace(Trace):
    """A level that pushes tangents (possibly a batch of them, as leading axes) with each value."""

    __slots__ = ("box",)

    def __init__(self, level: int, box) -> None:
        super().__init__(level)
        self.box = box  # (value, trace, tangent) -> box

    def process(self, prim, args, kwargs):
        vals, idx = unwrap_for(self, args)
        ans = prim(*vals, **kwargs)
        tangents = [args[i]._tangent for i in idx]
        tangent = prim.jvp(idx, tangents, ans, vals, kwargs)
        if STATE.anomaly:
            anomaly.check_forward(prim, ans)
            if anomaly.nonfinite(tangent):
                raise anomaly.AnomalyError(
                    f"the forward rule of '{prim.name}' produced a non-finite tangent, at "
                    f"{anomaly.user_line()}"
                )
        return self.box(ans, self, tangent)
