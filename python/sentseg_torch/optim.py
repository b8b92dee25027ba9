"""AdamW and SGD with momentum over named parameters, update for update as the TypeScript
Optimizer (optim/optimizers.ts), with its slot names ("<param>/m", "<param>/v", "<param>/momentum")
so that its state saves to and restores from the same optimizer.json/.bin; and the warm-up + poly
schedule (optim/schedule.ts)."""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import numpy as np
import torch


class Optimizer:
    def __init__(self, config: Dict[str, object]) -> None:
        self.config = dict(config)
        self.step = 0
        self.slots: Dict[str, torch.Tensor] = {}

    def _slot(self, name: str, like: torch.Tensor) -> torch.Tensor:
        s = self.slots.get(name)
        if s is None:
            s = torch.zeros_like(like)
            self.slots[name] = s
        return s

    @torch.no_grad()
    def apply(self, params: List[Tuple[str, torch.nn.Parameter]], lr: float, decays: Callable[[str], bool]) -> None:
        """One update of every parameter that has a gradient."""
        self.step += 1
        c = self.config
        for name, p in params:
            g = p.grad
            if g is None:
                continue
            wd = float(c["weightDecay"]) if decays(name) else 0.0  # type: ignore[arg-type]
            if c["kind"] == "adamw":
                b1, b2, eps = float(c["beta1"]), float(c["beta2"]), float(c["epsilon"])  # type: ignore[arg-type]
                m = self._slot(f"{name}/m", p)
                v = self._slot(f"{name}/v", p)
                m.mul_(b1).add_(g * (1 - b1))
                v.mul_(b2).add_(g * g * (1 - b2))
                m_hat = m / (1 - b1**self.step)
                v_hat = v / (1 - b2**self.step)
                update = m_hat / (torch.sqrt(v_hat) + eps)
                if wd > 0:
                    p.mul_(1 - lr * wd)
                p.sub_(update * lr)
            else:
                buf = self._slot(f"{name}/momentum", p)
                with_decay = g + p * wd if wd > 0 else g
                buf.mul_(float(c["momentum"])).add_(with_decay)  # type: ignore[arg-type]
                p.sub_(buf * lr)

    def state(self) -> Dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.slots.items()}

    def restore(self, step: int, slots: Dict[str, np.ndarray], device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        self.step = step
        self.slots = {k: torch.from_numpy(np.asarray(v, dtype=np.float32).copy()).to(device, dtype) for k, v in slots.items()}


def learning_rate(step: int, lr: float, total_steps: int, poly_power: float, warmup_steps: int, warmup_ratio: float) -> float:
    poly = lr * max(0.0, 1 - step / max(1, total_steps)) ** poly_power
    if step >= warmup_steps:
        return poly
    k = step / max(1, warmup_steps)
    return poly * (warmup_ratio + (1 - warmup_ratio) * k)
