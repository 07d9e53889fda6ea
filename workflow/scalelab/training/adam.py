"""Adam (Kingma & Ba 2015), written out in a few tensor operations.

Why not torch.optim.Adam: constructing any torch.optim optimiser imports torch's compiler
stack (torch._dynamo, from Optimizer.add_param_group), over a second per process: a large share
of a small trial's wall time (bench/README.md has the measurement). The update below is the textbook one with bias correction and L2 weight decay, as torch.optim.Adam
computes it (tests/test_train.py checks the two agree).

It is a torch.optim.Optimizer by type, with one param group holding the learning rate, which is
all torch.optim.lr_scheduler needs, so the schedules are torch's own. Optimizer.__init__ is
skipped on purpose: it is what imports the compiler stack.
"""

from __future__ import annotations

import math

import torch


class Adam(torch.optim.Optimizer):
    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        self.param_groups = [{"params": self.params, "lr": lr}]  # a scheduler sets "lr" here
        self.state = {}
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, closure=None) -> None:
        self.t += 1
        b1, b2 = self.betas
        bias1, bias2 = 1 - b1**self.t, 1 - b2**self.t
        step_size = self.lr / bias1
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / math.sqrt(bias2)).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)

    def state_dict(self) -> dict:
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {"t": self.t, "m": self.m, "v": self.v, "group": group}

    def load_state_dict(self, state: dict) -> None:
        self.t = state["t"]
        self.param_groups[0].update(state["group"])
        for dst, src in zip(self.m + self.v, state["m"] + state["v"]):
            dst.copy_(src)
