"""Nested containers (tuples, lists, dicts) of arrays: flatten to leaves and rebuild."""

from __future__ import annotations

from typing import Any


def flatten(tree: Any) -> tuple[list, Any]:
    """Leaves of `tree` in a fixed order, and a description to rebuild it with `unflatten`."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


_NODES = (tuple, list, dict)


def _flatten(tree, leaves):
    if isinstance(tree, (tuple, list)):
        subs = []
        for t in tree:  # leaves inline: most containers hold arrays
            if isinstance(t, _NODES):
                subs.append(_flatten(t, leaves))
            else:
                leaves.append(t)
                subs.append(None)
        return (type(tree), subs)
    if isinstance(tree, dict):
        keys = sorted(tree)
        return (dict, keys, [_flatten(tree[k], leaves) for k in keys])
    leaves.append(tree)
    return None


def unflatten(treedef: Any, leaves) -> Any:
    """Rebuild the container described by `treedef` with `leaves` in order."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(d, it):
    if d is None:
        return next(it)
    if d[0] is dict:
        return {k: _unflatten(sub, it) for k, sub in zip(d[1], d[2])}
    items = [next(it) if sub is None else _unflatten(sub, it) for sub in d[1]]
    return tuple(items) if d[0] is tuple else items


def tree_map(fn, tree: Any) -> Any:
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [fn(x) for x in leaves])
