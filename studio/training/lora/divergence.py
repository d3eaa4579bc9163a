"""Telling a training run that has collapsed from one that is merely noisy.

A diffusion loss swings several-fold from step to step (each step draws
its own noise levels), so one high loss means nothing, and a run whose
LoRA has blown up need not produce a loss that is not a number: it can
settle near 1, predicting the noise no better than zero, and go on to save
a LoRA that draws nothing. The watch keeps a moving average of the loss
(the plain mean over the first ``span`` steps, then an exponential one of
that span) and calls the run diverged once, for ``patience`` steps in a
row, that average has stayed

- at or above ``collapsed`` (0.5): the noise and the velocity targets have
  unit variance, and a LoRA starts from its base model, which predicts
  them far better than that (the starter's hexagon runs start near 0.05); or
- above ``factor`` times its lowest value after warm-up: on the 64 px
  starter, healthy hexagon runs never rose above 2.3 times their lowest
  average, and runs at twice the default learning rate, or at rank 64,
  rose 13 and 76 times.
"""

from __future__ import annotations


class DivergenceWatch:
    def __init__(self, warmup: int, factor: float = 8.0, collapsed: float = 0.5, patience: int = 25,
                 span: int = 50) -> None:
        self.warmup = warmup
        self.factor = factor
        self.collapsed = collapsed
        self.patience = patience
        self.span = span
        self.seen = 0
        self.average = 0.0
        self.lowest: float | None = None
        self.above = 0

    def update(self, step: int, loss: float) -> str | None:
        """Note step ``step``'s loss; a one-line reason when the run has diverged, else None."""
        self.seen += 1
        self.average += (loss - self.average) / min(self.seen, self.span)
        if step >= self.warmup:
            self.lowest = self.average if self.lowest is None else min(self.lowest, self.average)
        risen = self.lowest is not None and self.average > self.factor * self.lowest
        self.above = self.above + 1 if risen or self.average >= self.collapsed else 0
        if self.above < self.patience:
            return None
        how = (f"rose from {self.lowest:.4f} to {self.average:.3f} and stayed there" if risen
               else f"sat at {self.average:.3f}, no better than predicting nothing")
        return f"training diverged at step {step + 1} (its loss {how}): lower the learning rate or the rank"
