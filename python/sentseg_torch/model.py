"""The TypeScript trainer's SegFormer (packages/trainer/src/model/segformer.ts) in PyTorch: the same
parameter names ("stage1/block0/attn/q/w") and shapes (linear weights [in, out], convolutions
[k·k·cin, cout] in dy, dx, channel order, depthwise [9, c]), the same layer-norm epsilons, tanh GELU,
bilinear matrices and decoder order, so weights move between the two unchanged."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .rng import seeded_random_array

PATCH_KERNELS = (7, 3, 3, 3)
PATCH_STRIDES = (4, 2, 2, 2)
INPUT_MULTIPLE = 32
OUTPUT_STRIDE = 4
INITIAL_TAU = 0.07

VARIANTS: Dict[str, Dict[str, object]] = {
    "tiny": {"channels": [16, 32, 64, 128], "depths": [1, 1, 1, 1], "heads": [1, 1, 2, 4], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 64},
    "b0": {"channels": [32, 64, 160, 256], "depths": [2, 2, 2, 2], "heads": [1, 2, 5, 8], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 256},
    "b1": {"channels": [64, 128, 320, 512], "depths": [2, 2, 2, 2], "heads": [1, 2, 5, 8], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 256},
    "b2": {"channels": [64, 128, 320, 512], "depths": [3, 4, 6, 3], "heads": [1, 2, 5, 8], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 768},
    "b3": {"channels": [64, 128, 320, 512], "depths": [3, 4, 18, 3], "heads": [1, 2, 5, 8], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 768},
    "b4": {"channels": [64, 128, 320, 512], "depths": [3, 8, 27, 3], "heads": [1, 2, 5, 8], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 768},
    "b5": {"channels": [64, 128, 320, 512], "depths": [3, 6, 40, 3], "heads": [1, 2, 5, 8], "srRatios": [8, 4, 2, 1], "mlpRatio": 4, "decoderDim": 768},
}


def segformer_config(variant: str, embed_dim: int, box_projection_dim: Optional[int] = None) -> Dict[str, object]:
    """The model config as the checkpoint's model.json keeps it (SegFormerConfig)."""
    if variant not in VARIANTS:
        raise ValueError(f'unknown model variant "{variant}" (known: {", ".join(VARIANTS)})')
    config: Dict[str, object] = {"variant": variant, **{k: (list(v) if isinstance(v, list) else v) for k, v in VARIANTS[variant].items()}, "embedDim": embed_dim}
    if box_projection_dim:
        config["boxProjectionDim"] = box_projection_dim
    return config


def parameter_specs(config: Dict[str, object]) -> List[Tuple[str, List[int], str, float]]:
    """(name, shape, init, value) in the TypeScript build order; init is 'normal' (value = std) or 'constant'."""
    ch_: List[int] = config["channels"]  # type: ignore[assignment]
    depths: List[int] = config["depths"]  # type: ignore[assignment]
    srs: List[int] = config["srRatios"]  # type: ignore[assignment]
    mlp = int(config["mlpRatio"])  # type: ignore[arg-type]
    dec = int(config["decoderDim"])  # type: ignore[arg-type]
    emb = int(config["embedDim"])  # type: ignore[arg-type]
    specs: List[Tuple[str, List[int], str, float]] = []
    n = lambda name, shape, std: specs.append((name, shape, "normal", std))  # noqa: E731
    c = lambda name, shape, value: specs.append((name, shape, "constant", value))  # noqa: E731
    in_ch = 3
    for s in range(4):
        ch = ch_[s]
        k = PATCH_KERNELS[s]
        pre = f"stage{s + 1}"
        n(f"{pre}/patch/w", [k * k * in_ch, ch], math.sqrt(2 / (k * k * ch)))
        c(f"{pre}/patch/b", [ch], 0)
        c(f"{pre}/patch/ln/g", [ch], 1)
        c(f"{pre}/patch/ln/b", [ch], 0)
        sr = srs[s]
        for b in range(depths[s]):
            blk = f"{pre}/block{b}"
            c(f"{blk}/ln1/g", [ch], 1)
            c(f"{blk}/ln1/b", [ch], 0)
            for name in ("q", "k", "v", "proj"):
                n(f"{blk}/attn/{name}/w", [ch, ch], 0.02)
                c(f"{blk}/attn/{name}/b", [ch], 0)
            if sr > 1:
                n(f"{blk}/attn/sr/w", [sr * sr * ch, ch], math.sqrt(2 / (sr * sr * ch)))
                c(f"{blk}/attn/sr/b", [ch], 0)
                c(f"{blk}/attn/sr/ln/g", [ch], 1)
                c(f"{blk}/attn/sr/ln/b", [ch], 0)
            hidden = ch * mlp
            c(f"{blk}/ln2/g", [ch], 1)
            c(f"{blk}/ln2/b", [ch], 0)
            n(f"{blk}/ffn/fc1/w", [ch, hidden], 0.02)
            c(f"{blk}/ffn/fc1/b", [hidden], 0)
            n(f"{blk}/ffn/dw/w", [9, hidden], math.sqrt(2 / 9))
            c(f"{blk}/ffn/dw/b", [hidden], 0)
            n(f"{blk}/ffn/fc2/w", [hidden, ch], 0.02)
            c(f"{blk}/ffn/fc2/b", [ch], 0)
        c(f"{pre}/ln/g", [ch], 1)
        c(f"{pre}/ln/b", [ch], 0)
        n(f"decoder/linear{s + 1}/w", [ch, dec], 0.02)
        c(f"decoder/linear{s + 1}/b", [dec], 0)
        in_ch = ch
    n("decoder/fuse/w", [4 * dec, dec], math.sqrt(2 / dec))
    c("decoder/fuse/b", [dec], 0)
    c("decoder/fuse/ln/g", [dec], 1)
    c("decoder/fuse/ln/b", [dec], 0)
    n("head/w", [dec, emb], 0.02)
    c("head/b", [emb], 0)
    c("log_tau", [], math.log(INITIAL_TAU))
    box = config.get("boxProjectionDim")
    if box:
        n("wd/w", [emb, int(box)], 0.02)  # type: ignore[arg-type]
        c("wd/b", [int(box)], 0)  # type: ignore[arg-type]
    return specs


def initial_weights(config: Dict[str, object], seed: int) -> Dict[str, np.ndarray]:
    """The same initial weights as `new SegFormer(config, seed)`: ParamStore's Box–Muller normals
    (cosine only) of mulberry32, redrawn beyond ±2 std, in build order, drawn in vectorised chunks."""
    offset = 0  # draws of the generator used so far

    def normals(count: int) -> np.ndarray:
        nonlocal offset
        taken: List[np.ndarray] = []
        have = 0
        while have < count:
            pairs = int((count - have) * 1.1) + 16
            d = seeded_random_array(seed, 2 * pairs, skip=offset)
            u = np.maximum(d[0::2], 1e-12)
            g = np.sqrt(-2 * np.log(u)) * np.cos(2 * np.pi * d[1::2])
            ok = np.flatnonzero(np.abs(g) <= 2)
            need = count - have
            if ok.size >= need:
                taken.append(g[ok[:need]])
                offset += 2 * (int(ok[need - 1]) + 1)
                have = count
            else:
                taken.append(g[ok])
                offset += 2 * pairs
                have += ok.size
        return np.concatenate(taken) if taken else np.zeros(0)

    out: Dict[str, np.ndarray] = {}
    for name, shape, init, value in parameter_specs(config):
        size = int(np.prod(shape)) if shape else 1
        if init == "constant":
            out[name] = np.full(shape, value, dtype=np.float32)
        else:
            out[name] = (normals(size) * value).astype(np.float32).reshape(shape)
    return out


def layer_norm(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), g, b, eps)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def bilinear_matrix(src: int, dst: int) -> np.ndarray:
    """ops.ts bilinearMatrix: [dst, src], half-pixel centres (align_corners = False)."""
    m = np.zeros((dst, src), dtype=np.float32)
    scale = src / dst
    for i in range(dst):
        s = min(max((i + 0.5) * scale - 0.5, 0), src - 1)
        lo = int(math.floor(s))
        hi = min(lo + 1, src - 1)
        t = s - lo
        m[i, lo] += 1 - t
        m[i, hi] += t
    return m


class SegFormer(nn.Module):
    """images [n, H, W, 3] (normalised, NHWC as the TypeScript model) → pixel embeddings
    [n, ⌈H/32⌉·8, ⌈W/32⌉·8, embedDim], not normalised."""

    def __init__(self, config: Dict[str, object], seed: int = 1, weights: Optional[Dict[str, np.ndarray]] = None) -> None:
        super().__init__()
        self.config = dict(config)
        values = weights if weights is not None else initial_weights(self.config, seed)
        self._names: List[str] = []
        for name, shape, _, _ in parameter_specs(self.config):
            if name not in values:
                raise KeyError(f"no weight {name}")
            arr = np.asarray(values[name], dtype=np.float32)
            if list(arr.shape) != shape:
                raise ValueError(f"weight {name} has shape {'×'.join(map(str, arr.shape))}, this model has {'×'.join(map(str, shape))}")
            self.register_parameter(name, nn.Parameter(torch.from_numpy(arr.copy())))
            self._names.append(name)
        self._bilinear: Dict[Tuple[int, int, str], torch.Tensor] = {}

    def names(self) -> List[str]:
        return list(self._names)

    def p(self, name: str) -> torch.Tensor:
        return self._parameters[name]  # type: ignore[return-value]

    @staticmethod
    def decays(name: str) -> bool:
        """Matrices take weight decay; biases, norms and τ do not."""
        return name.endswith("/w")

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor], k: int, stride: int, pad: int) -> torch.Tensor:
        cin = x.shape[3]
        filt = w.reshape(k, k, cin, -1).permute(3, 2, 0, 1)
        y = F.conv2d(x.permute(0, 3, 1, 2), filt, b, stride=stride, padding=pad)
        return y.permute(0, 2, 3, 1)

    def _linear(self, x: torch.Tensor, pre: str) -> torch.Tensor:
        return torch.matmul(x, self.p(f"{pre}/w")) + self.p(f"{pre}/b")

    def _resize(self, x: torch.Tensor, oh: int, ow: int) -> torch.Tensor:
        n, h, w, c = x.shape
        if h == oh and w == ow:
            return x
        key_h = (h, oh, str(x.device))
        key_w = (w, ow, str(x.device))
        for key, (a, b) in ((key_h, (h, oh)), (key_w, (w, ow))):
            if key not in self._bilinear:
                self._bilinear[key] = torch.from_numpy(bilinear_matrix(a, b)).to(x.device)
        mh = self._bilinear[key_h].to(x.dtype)
        mw = self._bilinear[key_w].to(x.dtype)
        return torch.einsum("ih,nhwc,jw->nijc", mh, x, mw)

    def _attention(self, x: torch.Tensor, h: int, w: int, pre: str, heads: int, sr: int) -> torch.Tensor:
        n, l, ch = x.shape
        dh = ch // heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(n, t.shape[1], heads, dh).permute(0, 2, 1, 3)

        q = split(self._linear(x, f"{pre}/q"))
        kv = x
        if sr > 1:
            reduced = self._conv(x.reshape(n, h, w, ch), self.p(f"{pre}/sr/w"), self.p(f"{pre}/sr/b"), sr, sr, 0)
            kv = layer_norm(reduced.reshape(n, -1, ch), self.p(f"{pre}/sr/ln/g"), self.p(f"{pre}/sr/ln/b"), 1e-5)
        k = split(self._linear(kv, f"{pre}/k"))
        v = split(self._linear(kv, f"{pre}/v"))
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(dh)), dim=-1)
        mixed = torch.matmul(weights, v).permute(0, 2, 1, 3).reshape(n, l, ch)
        return self._linear(mixed, f"{pre}/proj")

    def _mix_ffn(self, x: torch.Tensor, h: int, w: int, pre: str) -> torch.Tensor:
        n, l, _ = x.shape
        hidden = self._linear(x, f"{pre}/fc1")
        hc = hidden.shape[2]
        dw = self.p(f"{pre}/dw/w").t().reshape(hc, 1, 3, 3)
        mixed = F.conv2d(hidden.reshape(n, h, w, hc).permute(0, 3, 1, 2), dw, self.p(f"{pre}/dw/b"), padding=1, groups=hc)
        mixed = mixed.permute(0, 2, 3, 1).reshape(n, l, hc)
        return self._linear(gelu_tanh(mixed), f"{pre}/fc2")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        c = self.config
        n, height, width, _ = images.shape
        pad_h = -height % INPUT_MULTIPLE
        pad_w = -width % INPUT_MULTIPLE
        x = F.pad(images, (0, 0, 0, pad_w, 0, pad_h)) if pad_h + pad_w > 0 else images
        features: List[torch.Tensor] = []
        for s in range(4):
            pre = f"stage{s + 1}"
            k = PATCH_KERNELS[s]
            fmap = self._conv(x, self.p(f"{pre}/patch/w"), self.p(f"{pre}/patch/b"), k, PATCH_STRIDES[s], k // 2)
            _, h, w, ch = fmap.shape
            tokens = layer_norm(fmap.reshape(n, h * w, ch), self.p(f"{pre}/patch/ln/g"), self.p(f"{pre}/patch/ln/b"), 1e-5)
            for b in range(int(c["depths"][s])):  # type: ignore[index]
                blk = f"{pre}/block{b}"
                tokens = tokens + self._attention(layer_norm(tokens, self.p(f"{blk}/ln1/g"), self.p(f"{blk}/ln1/b")), h, w, f"{blk}/attn", int(c["heads"][s]), int(c["srRatios"][s]))  # type: ignore[index]
                tokens = tokens + self._mix_ffn(layer_norm(tokens, self.p(f"{blk}/ln2/g"), self.p(f"{blk}/ln2/b")), h, w, f"{blk}/ffn")
            tokens = layer_norm(tokens, self.p(f"{pre}/ln/g"), self.p(f"{pre}/ln/b"))
            x = tokens.reshape(n, h, w, ch)
            features.append(x)
        h1, w1 = features[0].shape[1], features[0].shape[2]
        decoded = [self._resize(self._linear(f, f"decoder/linear{s + 1}"), h1, w1) for s, f in enumerate(features)]
        fused = self._linear(torch.cat(decoded[::-1], dim=3), "decoder/fuse")
        activated = torch.relu(layer_norm(fused, self.p("decoder/fuse/ln/g"), self.p("decoder/fuse/ln/b"), 1e-5))
        return self._linear(activated, "head")

    def weights(self) -> Dict[str, np.ndarray]:
        return {name: self.p(name).detach().cpu().numpy().astype(np.float32) for name in self._names}

    def load_weights(self, values: Dict[str, np.ndarray], source: str) -> None:
        missing = [n for n in self._names if n not in values]
        extra = [n for n in values if n not in self._parameters]
        if missing or extra:
            raise ValueError(f"weights in {source} do not fit this model: missing {', '.join(missing[:5]) or 'none'}; unexpected {', '.join(extra[:5]) or 'none'}")
        with torch.no_grad():
            for name in self._names:
                v = np.asarray(values[name], dtype=np.float32)
                if tuple(v.shape) != tuple(self.p(name).shape):
                    raise ValueError(f"weight {name} in {source} has shape {'×'.join(map(str, v.shape))}, this model has {'×'.join(map(str, self.p(name).shape))}")
                self.p(name).copy_(torch.from_numpy(v.copy()))
