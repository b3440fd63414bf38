"""Condition-aware low-rank adaptation (CALA, Eq. 10 in [DeKA-g]) and the plain LoRA it generalises.

A frozen layer ``y = W x`` gets the update ``y = W x + sum_j g_j(c) b_j a_j^T x``: ``R`` rank-1
components ``b_j a_j^T`` (the columns of ``B`` and rows of ``A`` of a rank-``R`` LoRA matrix
``B A``), each weighted by a soft gate ``g_j(c)`` of the transmission condition ``c`` (rate, SNR,
delay spread, normalised). ``B`` starts at zero, so an adapted layer starts as the frozen one; the
gate starts at ``g = 1`` (its last layer is zero and ``g = 2 sigmoid(.)``), so CALA starts as plain
LoRA and learns how far to depart from it. With a constant gate of ones CALA *is* LoRA; with a gate
that is one-hot over groups of components it is one LoRA per group of conditions.

The layers read the current conditions from a shared :class:`ConditionContext` that the codec fills
before each forward pass (:func:`conditions`), so the wrapped model's ``forward`` is unchanged.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["CALAConv2d", "ConditionContext", "Gate", "apply_cala", "conditions", "count_trainable"]


class ConditionContext:
    """Holds the normalised conditions ``c`` (B, n_cond) of the batch being processed."""

    def __init__(self):
        self.value: torch.Tensor | None = None


@contextlib.contextmanager
def conditions(context: ConditionContext, c: torch.Tensor):
    """Set ``context.value = c`` for the duration of a ``with`` block (the CALA layers read it)."""
    old, context.value = context.value, c
    try:
        yield context
    finally:
        context.value = old


class Gate(nn.Module):
    """The soft gating function ``g(c) = 2 sigmoid(MLP(c))``, one weight per rank-1 component.

    Parameters
    ----------
    n_conditions : int
        Entries of ``c``.
    rank : int
        Components ``R``.
    hidden : int
        Width of the hidden layer.
    """

    def __init__(self, n_conditions: int, rank: int, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_conditions, hidden), nn.SiLU(), nn.Linear(hidden, rank))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """Weights (B, R) in (0, 2), all 1 at initialisation."""
        return 2.0 * torch.sigmoid(self.net(c))


class CALAConv2d(nn.Module):
    """A frozen ``nn.Conv2d`` plus ``sum_j g_j(c) b_j a_j^T`` (Eq. 10 of [DeKA-g]), shapes as the base layer's.

    ``A`` is a convolution of the base layer's kernel, stride and padding into ``R`` channels; ``B`` a
    1 x 1 convolution back to the output channels, zero at initialisation (as peft's LoRA for
    ``Conv2d``).

    Parameters
    ----------
    base : torch.nn.Conv2d
        The layer to adapt (frozen here).
    rank : int
        ``R``, the rank of the update.
    context : ConditionContext
        Where the layer reads the batch's conditions.
    n_conditions : int
        Entries of ``c``.
    gate : torch.nn.Module, optional
        ``c -> (B, R)`` weights; default a new :class:`Gate`.
    """

    def __init__(self, base: nn.Conv2d, rank: int, context: ConditionContext, n_conditions: int = 3,
                 gate: nn.Module | None = None):
        super().__init__()
        if not isinstance(base, nn.Conv2d):
            raise TypeError(f"base must be a torch.nn.Conv2d, got {type(base).__name__}")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be an int >= 1, got {rank!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, bias=False)
        self.lora_B = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=5 ** 0.5)
        nn.init.zeros_(self.lora_B.weight)
        self.gate = gate if gate is not None else Gate(n_conditions, rank)
        self.context = context
        self.rank = rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.context.value
        if c is None:
            raise RuntimeError("CALA layer called outside `with conditions(context, c):`")
        g = self.gate(c)
        if g.shape != (x.shape[0], self.rank):
            raise ValueError(f"the gate must give ({x.shape[0]}, {self.rank}) weights, got {tuple(g.shape)}")
        return self.base(x) + self.lora_B(self.lora_A(x) * g[:, :, None, None])


def apply_cala(model: nn.Module, names, rank: int, context: ConditionContext, n_conditions: int = 3) -> nn.Module:
    """Replace the ``nn.Conv2d`` submodules named in ``names`` by :class:`CALAConv2d` wrappers, in place.

    Parameters
    ----------
    model : torch.nn.Module
        The model (its other parameters are frozen too).
    names : iterable of str
        Dotted names of ``Conv2d`` submodules (``model.get_submodule`` names).
    rank : int
        Rank of every update.
    context : ConditionContext
        Shared by all the wrappers.
    n_conditions : int
        Entries of ``c``.

    Returns
    -------
    torch.nn.Module
        ``model``, with only the CALA parameters (``lora_A``, ``lora_B``, gates) trainable.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, CALAConv2d(getattr(parent, child), rank, context, n_conditions))
    return model


def count_trainable(model: nn.Module) -> int:
    """Parameters with ``requires_grad`` (what an alignment method must train and send)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
