"""Sparse Jacobians and Hessians: sparsity patterns, colouring, compressed evaluation, and Jacobian
accumulation by vertex elimination."""

from .coloring import column_coloring, row_coloring, star_coloring
from .elimination import LinearizedGraph, elimination_jacobian, linearize
from .jacobian import SparseHessian, SparseJacobian, sparse_hessian, sparse_jacobian
from .patterns import hessian_sparsity, jacobian_sparsity
