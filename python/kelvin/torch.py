"""kelvin's losses as PyTorch autograd functions on CPU tensors.

    >>> import torch, kelvin.torch as KT
    >>> x = torch.randn(8, 100, requires_grad=True)
    >>> t = torch.tensor(0.5, requires_grad=True)      # a learnt temperature
    >>> loss = KT.cross_entropy(x, torch.randint(100, (8,)), temperature=t)
    >>> loss.backward()                                 # x.grad and t.grad

The same arguments as kelvin.losses, as tensors (float32 or float64, CPU).
Inputs are read in place through NumPy views of the tensors (a copy only for
tensors whose rows are not contiguous); the forward pass computes the loss
and, when an input requires grad, its gradient in the same fused pass, which
backward then scales. A temperature (log_scale, scale) given as a tensor
that requires grad gets its gradient too. Constants: labels, the teacher,
the queue.
"""

import numpy as np
import torch

from . import _kelvin

_raw = _kelvin._loss

__all__ = [
    "clip",
    "cosine_softmax",
    "cross_entropy",
    "distillation",
    "info_nce",
    "info_nce_embeddings",
]


def _np(t, name, dtype=None):
    """A NumPy view of a CPU float tensor with contiguous rows (no copy when it has them)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (got {type(t).__name__})")
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on {t.device}; kelvin.torch works on CPU tensors")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name} has dtype {t.dtype}; expected {dtype}")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 (got {t.dtype})")
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D (got shape {tuple(t.shape)})")
    t = t.detach()
    if t.shape[1] > 1 and t.stride(1) != 1 or t.stride(0) < 0:
        t = t.contiguous()
    return t.numpy()


def _labels(y, rows):
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(y)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"labels must be an integer tensor (got {y.dtype})")
    y = y.detach().reshape(-1).to(torch.int64).contiguous()
    if y.shape[0] != rows:
        raise ValueError(f"labels has {y.shape[0]} entries but there are {rows} rows")
    return y.numpy()


def _value(s, name):
    """A temperature-like scalar: a float, or a 0-d / 1-element tensor."""
    if isinstance(s, torch.Tensor):
        if s.numel() != 1:
            raise ValueError(f"{name} must hold one value (got shape {tuple(s.shape)})")
        return float(s.detach().reshape(()).item())
    if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number or a tensor (got {type(s).__name__})")
    return float(s)


def _scalar_grad(d, like):
    """dL/d(scalar) shaped like the scalar input (None when it is not a tensor)."""
    if not isinstance(like, torch.Tensor):
        return None
    return torch.full_like(like, d, dtype=like.dtype)


def _scale(g, go):
    # Common case loss.backward(): a gradient of 1 returns the fused result as is.
    if g is None:
        return None
    if go.numel() == 1 and float(go) == 1.0:
        return g
    return g * go


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, labels, temperature, reduction, ignore_index, label_smoothing):
        t = _value(temperature, "temperature")
        x = _np(logits, "logits")
        probs = isinstance(labels, torch.Tensor) and labels.dtype.is_floating_point
        tgt = _np(labels, "labels", logits.dtype) if probs else None
        lab = None if probs else _labels(labels, x.shape[0])
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[2]
        g = torch.empty(x.shape, dtype=logits.dtype) if need else None
        losses = torch.empty(x.shape[0], dtype=logits.dtype) if reduction == "none" else None
        loss, dt = _raw.cross_entropy(x, lab, tgt, t, reduction, int(ignore_index),
                                      float(label_smoothing), None if g is None else g.numpy(),
                                      None if losses is None else losses.numpy())
        ctx.reduction, ctx.t, ctx.dt, ctx.temperature = reduction, t, dt, temperature
        ctx.save_for_backward(g, logits)
        if reduction == "none":
            return losses
        return torch.tensor(loss, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, go):
        g, logits = ctx.saved_tensors
        if g is None:
            return None, None, None, None, None, None
        if ctx.reduction != "none":
            gx = _scale(g, go)
            dt = ctx.dt * float(go)
        else:
            gx = g * go.reshape(-1, 1)
            # dL_i/dT = -(1/T) sum_j (x_ij - max_i) dL_i/dx_ij (L depends on x / T only).
            x = logits.detach()
            m = torch.where(torch.isfinite(x), x, torch.zeros_like(x)).amax(1, keepdim=True)
            term = torch.where(g != 0, (x - m) * g, torch.zeros_like(g))
            dt = float(-(term.sum(1) * go).sum() / ctx.t)
        return (gx if ctx.needs_input_grad[0] else None, None,
                _scalar_grad(dt, ctx.temperature) if ctx.needs_input_grad[2] else None, None, None,
                None)


def cross_entropy(logits, labels, temperature=1.0, reduction="mean", ignore_index=-100,
                  label_smoothing=0.0):
    """F.cross_entropy(logits / temperature, labels, ...); labels: int64 indices or probabilities."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none' (got {reduction!r})")
    return _CrossEntropy.apply(logits, labels, temperature, reduction, ignore_index,
                               label_smoothing)


class _Distillation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student, teacher, labels, temperature, alpha):
        s = _np(student, "student")
        u = _np(teacher, "teacher", student.dtype)
        lab = None if labels is None else _labels(labels, s.shape[0])
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[3]
        g = torch.empty(s.shape, dtype=student.dtype) if need else None
        loss, dt = _raw.distillation(s, u, lab, _value(temperature, "temperature"),
                                     _value(alpha, "alpha"), None if g is None else g.numpy())
        ctx.dt, ctx.temperature = dt, temperature
        ctx.save_for_backward(g)
        return torch.tensor(loss, dtype=student.dtype)

    @staticmethod
    def backward(ctx, go):
        (g,) = ctx.saved_tensors
        gs = _scale(g, go) if ctx.needs_input_grad[0] else None
        gt = _scalar_grad(ctx.dt * float(go), ctx.temperature) if ctx.needs_input_grad[3] else None
        return gs, None, None, gt, None


def distillation(student, teacher, labels=None, temperature=4.0, alpha=0.5):
    """alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(teacher/T || student/T), batchmean."""
    return _Distillation.apply(student, teacher, labels, temperature, alpha)


class _InfoNCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, temperature):
        x = _np(logits, "logits")
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        g = torch.empty(x.shape, dtype=logits.dtype) if need else None
        loss, dt = _raw.info_nce(x, _value(temperature, "temperature"),
                                 None if g is None else g.numpy())
        ctx.dt, ctx.temperature = dt, temperature
        ctx.save_for_backward(g)
        return torch.tensor(loss, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, go):
        (g,) = ctx.saved_tensors
        gx = _scale(g, go) if ctx.needs_input_grad[0] else None
        gt = _scalar_grad(ctx.dt * float(go), ctx.temperature) if ctx.needs_input_grad[1] else None
        return gx, gt


def info_nce(logits, temperature=0.07):
    """MoCo's InfoNCE over N x (1 + K) logits, positive in column 0, mean over rows."""
    return _InfoNCE.apply(logits, temperature)


class _InfoNCEEmbeddings(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, queue, temperature, normalize):
        qa = _np(q, "q")
        ka = _np(k, "k", q.dtype)
        ua = _np(queue, "queue", q.dtype)
        need = any(ctx.needs_input_grad[i] for i in (0, 1, 3))
        gq = torch.empty(qa.shape, dtype=q.dtype) if need else None
        gk = torch.empty(ka.shape, dtype=q.dtype) if need else None
        loss, dt = _raw.info_nce_embeddings(qa, ka, ua, _value(temperature, "temperature"),
                                            bool(normalize), None if gq is None else gq.numpy(),
                                            None if gk is None else gk.numpy())
        ctx.dt, ctx.temperature = dt, temperature
        ctx.save_for_backward(gq, gk)
        return torch.tensor(loss, dtype=q.dtype)

    @staticmethod
    def backward(ctx, go):
        gq, gk = ctx.saved_tensors
        return (_scale(gq, go) if ctx.needs_input_grad[0] else None,
                _scale(gk, go) if ctx.needs_input_grad[1] else None, None,
                _scalar_grad(ctx.dt * float(go), ctx.temperature)
                if ctx.needs_input_grad[3] else None, None)


def info_nce_embeddings(q, k, queue, temperature=0.07, normalize=True):
    """InfoNCE from embeddings (MoCo), tiled: the N x K logits are never held."""
    return _InfoNCEEmbeddings.apply(q, k, queue, temperature, normalize)


class _Clip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, image, text, log_scale):
        a = _np(image, "image_features")
        b = _np(text, "text_features", image.dtype)
        need = any(ctx.needs_input_grad)
        ga = torch.empty(a.shape, dtype=image.dtype) if need else None
        gb = torch.empty(b.shape, dtype=image.dtype) if need else None
        loss, dls = _raw.clip(a, b, _value(log_scale, "log_scale"),
                              None if ga is None else ga.numpy(),
                              None if gb is None else gb.numpy())
        ctx.dls, ctx.log_scale = dls, log_scale
        ctx.save_for_backward(ga, gb)
        return torch.tensor(loss, dtype=image.dtype)

    @staticmethod
    def backward(ctx, go):
        ga, gb = ctx.saved_tensors
        return (_scale(ga, go) if ctx.needs_input_grad[0] else None,
                _scale(gb, go) if ctx.needs_input_grad[1] else None,
                _scalar_grad(ctx.dls * float(go), ctx.log_scale)
                if ctx.needs_input_grad[2] else None)


def clip(image_features, text_features, log_scale):
    """CLIP's symmetric loss; scale = min(exp(log_scale), 100)."""
    return _Clip.apply(image_features, text_features, log_scale)


class _CosineSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, weights, labels, scale, margin, margin_type):
        f = _np(features, "features")
        w = _np(weights, "weights", features.dtype)
        lab = _labels(labels, f.shape[0])
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1] or ctx.needs_input_grad[3]
        gf = torch.empty(f.shape, dtype=features.dtype) if need else None
        gw = torch.empty(w.shape, dtype=features.dtype) if need else None
        loss, ds = _raw.cosine_softmax(f, w, lab, _value(scale, "scale"),
                                       _value(margin, "margin"), margin_type,
                                       None if gf is None else gf.numpy(),
                                       None if gw is None else gw.numpy())
        ctx.ds, ctx.scale = ds, scale
        ctx.save_for_backward(gf, gw)
        return torch.tensor(loss, dtype=features.dtype)

    @staticmethod
    def backward(ctx, go):
        gf, gw = ctx.saved_tensors
        return (_scale(gf, go) if ctx.needs_input_grad[0] else None,
                _scale(gw, go) if ctx.needs_input_grad[1] else None, None,
                _scalar_grad(ctx.ds * float(go), ctx.scale) if ctx.needs_input_grad[3] else None,
                None, None)


def cosine_softmax(features, weights, labels, scale=30.0, margin=0.0, margin_type="none"):
    """NormFace / CosFace / ArcFace over L2-normalised features and class weights."""
    return _CosineSoftmax.apply(features, weights, labels, scale, margin, margin_type)
