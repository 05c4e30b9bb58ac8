"""Neural networks: on tensors, `Module`, layers, losses and initialisers; on scalar nodes, the
paper's `Neuron` and `Layer` (`wengert.nn.scalar`, with its own `MLP`, `SGD` and `mse_loss`).

`wengert.nn.functional` holds the functional forms (`cross_entropy`, `dropout`, ...); the losses are
also available here directly (`wengert.nn.mse_loss`).
"""

from . import functional, init
from .conv import CNN, AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .layers import (
    ACTIVATIONS,
    GELU,
    MLP,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ModuleDict,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
)
from .module import IncompatibleKeys, Module, Parameter, is_parameter
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .paper import PaperClassifier, paper_loss, softmax_cross_entropy
from .scalar import Layer, Neuron
from .stateless import functional_call, parameter_arrays
