"""wengert's core: traces and levels, the recorded graph, and the one table of primitives.

The core knows nothing of neural networks, data, solvers or the command line.
"""
