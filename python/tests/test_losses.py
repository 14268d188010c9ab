"""kelvin.losses and kelvin.torch against PyTorch 1.13 autograd.

float64: every loss and every gradient (the temperature's included) within
1e-10 relative of PyTorch's autograd on the formulation its users write
(F.cross_entropy(x / T, y), F.kl_div, the MoCo and CLIP reference code,
InsightFace's ArcFace). float32: kelvin's error against the float64 result is
held to PyTorch's own float32 error (plus one float32 rounding), and both
are printed (pytest -s) for the notes.
"""

import math

import numpy as np
import pytest

import kelvin
import kelvin.losses as L

torch = pytest.importorskip("torch")
F = torch.nn.functional
KT = pytest.importorskip("kelvin.torch")

RTOL64 = 1e-10


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(b)), 1e-300)
    return float(np.max(np.abs(a - b)) / scale)


def close64(a, b, what):
    e = rel_err(a, b)
    assert e <= RTOL64, f"{what}: relative error {e:.3g} vs PyTorch float64"


def t64(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# --- torch references (what users write) --------------------------------------------


def ref_cross_entropy(x, y, t, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    xt, tt = t64(x), t64(t)
    yt = torch.tensor(y) if np.asarray(y).dtype.kind != "f" else torch.tensor(y)
    loss = F.cross_entropy(xt / tt, yt, reduction=reduction, ignore_index=ignore_index,
                           label_smoothing=label_smoothing)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy(), tt.grad.item()


def ref_distillation(s, u, y, t, alpha):
    st, tt = t64(s), t64(t)
    ut = torch.tensor(u)
    kl = F.kl_div(F.log_softmax(st / tt, 1), F.softmax(ut / tt, 1), reduction="batchmean")
    loss = (1 - alpha) * tt * tt * kl
    if y is not None:
        loss = loss + alpha * F.cross_entropy(st, torch.tensor(y))
    loss.backward()
    return loss.item(), st.grad.numpy(), tt.grad.item()


def ref_moco(q, k, queue, t, normalize=True):
    qt, kt, tt = t64(q), t64(k), t64(t)
    qn = F.normalize(qt, dim=1) if normalize else qt
    kn = F.normalize(kt, dim=1) if normalize else kt
    l_pos = (qn * kn).sum(1, keepdim=True)
    l_neg = qn @ torch.tensor(queue).T
    logits = torch.cat([l_pos, l_neg], 1) / tt
    loss = F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
    loss.backward()
    return loss.item(), qt.grad.numpy(), kt.grad.numpy(), tt.grad.item()


def ref_clip(a, b, ls):
    at, bt, lt = t64(a), t64(b), t64(ls)
    scale = lt.exp().clamp(max=100)
    logits = scale * F.normalize(at, dim=1) @ F.normalize(bt, dim=1).T
    labels = torch.arange(a.shape[0])
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss.backward()
    return loss.item(), at.grad.numpy(), bt.grad.numpy(), lt.grad.item()


def ref_cosine(f, w, y, s, m, kind):
    ft, wt, st = t64(f), t64(w), t64(s)
    cos = F.normalize(ft, dim=1) @ F.normalize(wt, dim=1).T
    yt = torch.tensor(y)[:, None]
    c = cos.gather(1, yt)
    if kind == "cosface":
        phi = c - m
    elif kind == "arcface":  # InsightFace, easy_margin=False
        sin = torch.sqrt(1 - c * c)
        phi = c * math.cos(m) - sin * math.sin(m)
        phi = torch.where(c > math.cos(math.pi - m), phi, c - math.sin(math.pi - m) * m)
    else:
        phi = c
    logits = (st * cos).scatter(1, yt, st * phi)
    loss = F.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    return loss.item(), ft.grad.numpy(), wt.grad.numpy(), st.grad.item()


rng = np.random.default_rng(2026)


# --- the seed --------------------------------------------------------------------


@pytest.mark.parametrize("t,expected", [(1.0, 4.938661770836239), (0.5, 2.983417467746032),
                                        (0.07, 3.998399531439e-10)])
def test_seed_info_nce(t, expected):
    x = np.full((2, 1025), -1.0)
    x[:, 0] = 1.0
    assert L.info_nce(x, temperature=t) == pytest.approx(expected, rel=1e-12)
    loss = KT.info_nce(torch.tensor(x), temperature=t)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


# --- float64 against PyTorch autograd ------------------------------------------------


@pytest.mark.parametrize("t", [0.07, 1.0, 5.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_labels_float64(t, reduction, smoothing):
    x = rng.standard_normal((16, 50)) * 3
    y = rng.integers(0, 50, 16)
    y[[2, 9]] = -100
    loss, g, dt = L.cross_entropy(x, y, temperature=t, reduction=reduction,
                                  label_smoothing=smoothing, grad=True)
    rl, rg, rdt = ref_cross_entropy(x, y, t, reduction, -100, smoothing)
    close64(loss, rl, "loss")
    close64(g, rg, "dL/dlogits")
    close64(dt, rdt, "dL/dT")
    # the torch Function, with a learnt temperature
    xt, tt = t64(x), t64(t)
    out = KT.cross_entropy(xt, torch.tensor(y), temperature=tt, reduction=reduction,
                           label_smoothing=smoothing)
    out.sum().backward()
    close64(out.detach().numpy(), rl, "torch loss")
    close64(xt.grad.numpy(), rg, "torch dL/dlogits")
    close64(tt.grad.item(), rdt, "torch dL/dT")


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_probabilities_float64(smoothing):
    x = rng.standard_normal((8, 30))
    q = rng.random((8, 30))
    q /= q.sum(1, keepdims=True)
    loss, g, dt = L.cross_entropy(x, q, temperature=0.4, label_smoothing=smoothing, grad=True)
    rl, rg, rdt = ref_cross_entropy(x, q, 0.4, label_smoothing=smoothing)
    close64(loss, rl, "loss")
    close64(g, rg, "dL/dlogits")
    close64(dt, rdt, "dL/dT")


@pytest.mark.parametrize("t", [1.0, 4.0, 20.0])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_distillation_float64(t, alpha):
    s = rng.standard_normal((12, 40)) * 2
    u = rng.standard_normal((12, 40)) * 2
    y = rng.integers(0, 40, 12)
    loss, g, dt = L.distillation(s, u, y, temperature=t, alpha=alpha, grad=True)
    rl, rg, rdt = ref_distillation(s, u, y, t, alpha)
    close64(loss, rl, "loss")
    close64(g, rg, "dL/dstudent")
    if alpha < 1:
        close64(dt, rdt, "dL/dT")
    st, tt = t64(s), t64(t)
    KT.distillation(st, torch.tensor(u), torch.tensor(y), temperature=tt, alpha=alpha).backward()
    close64(st.grad.numpy(), rg, "torch dL/dstudent")


def test_distillation_without_labels():
    s, u = rng.standard_normal((5, 9)), rng.standard_normal((5, 9))
    loss, g, dt = L.distillation(s, u, temperature=3.0, alpha=0.0, grad=True)
    rl, rg, rdt = ref_distillation(s, u, None, 3.0, 0.0)
    close64(loss, rl, "loss")
    close64(g, rg, "dL/dstudent")
    close64(dt, rdt, "dL/dT")
    with pytest.raises(ValueError, match="alpha"):
        L.distillation(s, u)  # alpha 0.5 needs labels


@pytest.mark.parametrize("t", [0.07, 0.2, 1.0])
def test_info_nce_float64(t):
    x = rng.standard_normal((16, 257))
    loss, g, dt = L.info_nce(x, temperature=t, grad=True)
    rl, rg, rdt = ref_cross_entropy(x, np.zeros(16, np.int64), t)
    close64(loss, rl, "loss")
    close64(g, rg, "dL/dlogits")
    close64(dt, rdt, "dL/dT")


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("t", [0.07, 0.5])
def test_info_nce_embeddings_float64(normalize, t):
    n, k, d = 70, 5000, 32  # more than one tile of rows and of queue columns
    q, kk = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    queue = rng.standard_normal((k, d))
    queue /= np.linalg.norm(queue, axis=1, keepdims=True)
    if not normalize:
        q, kk = q * 0.2, kk * 0.2
    loss, gq, gk, dt = L.info_nce_embeddings(q, kk, queue, temperature=t, normalize=normalize,
                                             grad=True)
    rl, rgq, rgk, rdt = ref_moco(q, kk, queue, t, normalize)
    close64(loss, rl, "loss")
    close64(gq, rgq, "dL/dq")
    close64(gk, rgk, "dL/dk")
    close64(dt, rdt, "dL/dT")
    qt, kt, tt = t64(q), t64(kk), t64(t)
    KT.info_nce_embeddings(qt, kt, torch.tensor(queue), temperature=tt,
                           normalize=normalize).backward()
    close64(qt.grad.numpy(), rgq, "torch dL/dq")
    close64(tt.grad.item(), rdt, "torch dL/dT")


@pytest.mark.parametrize("ls", [math.log(1 / 0.07), 0.0, 5.0])
def test_clip_float64(ls):
    a, b = rng.standard_normal((32, 16)), rng.standard_normal((32, 16))
    loss, ga, gb, dls = L.clip(a, b, ls, grad=True)
    rl, rga, rgb, rdls = ref_clip(a, b, ls)
    close64(loss, rl, "loss")
    close64(ga, rga, "dL/dimage")
    close64(gb, rgb, "dL/dtext")
    if ls == 5.0:
        assert dls == 0.0 and rdls == 0.0
    else:
        close64(dls, rdls, "dL/dlog_scale")
    at, bt, lt = t64(a), t64(b), t64(ls)
    KT.clip(at, bt, lt).backward()
    close64(at.grad.numpy(), rga, "torch dL/dimage")
    close64(lt.grad.item(), rdls, "torch dL/dlog_scale")


@pytest.mark.parametrize("kind,m,s", [("none", 0.0, 30.0), ("cosface", 0.35, 30.0),
                                      ("arcface", 0.5, 64.0), ("arcface", 2.8, 10.0)])
def test_cosine_softmax_float64(kind, m, s):
    f, w = rng.standard_normal((24, 8)), rng.standard_normal((10, 8))
    y = rng.integers(0, 10, 24)
    loss, gf, gw, ds = L.cosine_softmax(f, w, y, scale=s, margin=m, margin_type=kind, grad=True)
    rl, rgf, rgw, rds = ref_cosine(f, w, y, s, m, kind)
    close64(loss, rl, "loss")
    close64(gf, rgf, "dL/dfeatures")
    close64(gw, rgw, "dL/dweights")
    close64(ds, rds, "dL/dscale")
    ft, wt, st = t64(f), t64(w), t64(s)
    KT.cosine_softmax(ft, wt, torch.tensor(y), scale=st, margin=m, margin_type=kind).backward()
    close64(wt.grad.numpy(), rgw, "torch dL/dweights")
    close64(st.grad.item(), rds, "torch dL/dscale")


def test_backward_of_softmax_and_log_softmax_float64():
    x = rng.standard_normal((6, 20))
    a = rng.standard_normal((6, 20))
    for fn, tfn, name in ((kelvin.softmax, torch.softmax, "softmax"),
                          (kelvin.log_softmax, torch.log_softmax, "log_softmax")):
        y = fn(x, temperature=0.3)
        back = L.softmax_backward if name == "softmax" else L.log_softmax_backward
        dx, dt = back(y, a, temperature=0.3)
        xt, tt = t64(x), t64(0.3)
        (tfn(xt / tt, 1) * torch.tensor(a)).sum().backward()
        close64(dx, xt.grad.numpy(), f"{name} dx")
        close64(dt.sum(), tt.grad.item(), f"{name} dT")


def test_torch_gradcheck():
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, 1])
    assert torch.autograd.gradcheck(lambda x, t: KT.cross_entropy(x, y, temperature=t), (x, t))
    assert torch.autograd.gradcheck(
        lambda x, t: KT.cross_entropy(x, y, temperature=t, reduction="none"), (x, t))
    q = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    queue = F.normalize(torch.randn(6, 4, dtype=torch.float64), dim=1)
    assert torch.autograd.gradcheck(
        lambda q, k, t: KT.info_nce_embeddings(q, k, queue, temperature=t), (q, k, t))


# --- float32: within PyTorch's own float32 error ---------------------------------------

F32_REPORT = []


def f32_case(name, ours, ref32, ref64):
    """ours and PyTorch's float32 results against PyTorch float64 on the same inputs."""
    for part, o, r32, r64 in zip(("loss", "grad", "dT"), ours, ref32, ref64):
        e_ours, e_torch = rel_err(o, r64), rel_err(r32, r64)
        F32_REPORT.append((name, part, e_ours, e_torch))
        print(f"float32 {name:24s} {part:5s} kelvin {e_ours:.2e}  pytorch {e_torch:.2e}")
        assert e_ours <= max(e_torch, 0) + 2.4e-7, (name, part, e_ours, e_torch)


def torch_ce(x, y, t, dtype):
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    tt = torch.tensor(t, dtype=dtype, requires_grad=True)
    loss = F.cross_entropy(xt / tt, torch.tensor(y))
    loss.backward()
    return loss.item(), xt.grad.numpy(), tt.grad.item()


@pytest.mark.parametrize("t", [0.07, 1.0])
def test_cross_entropy_float32_within_pytorch_error(t):
    x = (rng.standard_normal((64, 1000)) * 4).astype(np.float32)
    y = rng.integers(0, 1000, 64)
    ours = L.cross_entropy(x, y, temperature=t, grad=True)
    f32_case(f"cross_entropy T={t}", ours, torch_ce(x, y, t, torch.float32),
             torch_ce(x.astype(np.float64), y, t, torch.float64))


def test_info_nce_embeddings_float32_within_pytorch_error():
    n, k, d = 64, 4096, 64
    q = rng.standard_normal((n, d)).astype(np.float32)
    kk = rng.standard_normal((n, d)).astype(np.float32)
    queue = rng.standard_normal((k, d))
    queue = (queue / np.linalg.norm(queue, axis=1, keepdims=True)).astype(np.float32)
    loss, gq, gk, dt = L.info_nce_embeddings(q, kk, queue, temperature=0.07, grad=True)

    def moco(dtype):
        qt = torch.tensor(q, dtype=dtype, requires_grad=True)
        tt = torch.tensor(0.07, dtype=dtype, requires_grad=True)
        qn, kn = F.normalize(qt, dim=1), F.normalize(torch.tensor(kk, dtype=dtype), dim=1)
        logits = torch.cat([(qn * kn).sum(1, keepdim=True),
                            qn @ torch.tensor(queue, dtype=dtype).T], 1) / tt
        out = F.cross_entropy(logits, torch.zeros(n, dtype=torch.long))
        out.backward()
        return out.item(), qt.grad.numpy(), tt.grad.item()

    f32_case("info_nce_embeddings", (loss, gq, dt), moco(torch.float32), moco(torch.float64))


# --- limits and errors -----------------------------------------------------------------


def test_limits():
    x = np.array([[3.0, 1.0, 0.0], [3.0, 1.0, 0.0]])
    losses = L.cross_entropy(x, [0, 1], temperature=0.0, reduction="none")
    assert losses[0] == 0.0 and losses[1] == math.inf
    assert L.cross_entropy(x, [0, 1], temperature=math.inf) == pytest.approx(math.log(3))
    assert math.isnan(L.cross_entropy([[math.nan, 1.0]], [0]))
    masked = np.array([[0.0, -math.inf, 1.0]])
    loss, g, _ = L.cross_entropy(masked, [2], grad=True)
    assert g[0, 1] == 0.0 and np.isfinite(loss)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: L.cross_entropy([[1.0, 2.0]], [0], temperature=-1), ValueError, "temperature"),
    (lambda: L.cross_entropy([[1.0, 2.0]], [0], temperature=math.nan), ValueError, "temperature"),
    (lambda: L.cross_entropy([[1.0, 2.0]], [2]), ValueError, r"labels\[0\] = 2"),
    (lambda: L.cross_entropy([[1.0, 2.0]], [0, 1]), ValueError, "labels has 2"),
    (lambda: L.cross_entropy([[1.0, 2.0]], [0], reduction="avg"), ValueError, "reduction"),
    (lambda: L.cross_entropy([[1.0, 2.0]], ["a"]), TypeError, "labels"),
    (lambda: L.cross_entropy([[1.0, 2.0]], [0], temperature="1"), TypeError, "temperature"),
    (lambda: L.info_nce_embeddings(np.ones((2, 3)), np.ones((2, 3)), np.ones((4, 2))), ValueError,
     "queue"),
    (lambda: L.clip(np.ones((2, 3)), np.ones((3, 3)), 0.0), ValueError, "text_features"),
    (lambda: L.cosine_softmax(np.ones((2, 3)), np.ones((4, 3)), [0, 1], margin_type="sphere"),
     ValueError, "margin_type"),
    (lambda: L.distillation(np.ones((2, 3)), np.ones((2, 4)), [0, 1]), ValueError, "teacher"),
    (lambda: KT.cross_entropy(torch.ones(2, 3, dtype=torch.float16), torch.tensor([0, 1])),
     TypeError, "float32 or float64"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
