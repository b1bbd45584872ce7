"""GEOM ("geo") and Geo+ ("geo-plus"): transformations, Wide ResNet, Dirichlet score, OE term,
and quick-preset training on real MNIST digit 0."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from deepad import methods
from deepad.methods import transforms as T
from deepad.methods.geo import dirichlet_normality, fit_dirichlet, inv_digamma
from deepad.methods.geo_plus import uniform_ce
from deepad.nets.wrn import WideResNet


def _img(side=32, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, c, side, side, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------ boundary rules
def test_symmetric_padding_duplicates_the_edge_and_reflect101_does_not():
    x = _img(8, 2)
    s = T.pad(x, 3, "symmetric")
    r = T.pad(x, 3, "reflect")
    assert np.array_equal(s.numpy(), np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3), (3, 3)), "symmetric"))
    assert torch.equal(r, F.pad(x, (3, 3, 3, 3), mode="reflect"))
    # the pixel just outside the border: the edge itself (symmetric), its neighbour (reflect-101)
    assert torch.equal(s[..., 3:-3, 2], x[..., 0]) and torch.equal(s[..., 2, 3:-3], x[..., 0, :])
    assert torch.equal(r[..., 3:-3, 2], x[..., 1]) and not torch.equal(r[..., 3:-3, 2], x[..., 0])


@pytest.mark.parametrize("dy,dx", [(3, -2), (-4, 4), (0, 5), (2, 0)])
def test_shift_matches_scipy(dy, dx):
    """symmetric = scipy 'reflect' (the GEOM/Keras rule), reflect = scipy 'mirror' (reflect-101)."""
    x = _img(12, 1, seed=1)
    a = x[0, 0].numpy()
    sym = ndimage.shift(a, (dy, dx), order=0, mode="reflect")
    mir = ndimage.shift(a, (dy, dx), order=0, mode="mirror")
    assert np.allclose(T.shift(x, dy, dx, "symmetric")[0, 0].numpy(), sym)
    assert np.allclose(T.shift(x, dy, dx, "reflect")[0, 0].numpy(), mir)


# ------------------------------------------------------------------ GEOM transformations
@pytest.mark.parametrize("side,c", [(32, 3), (28, 1), (8, 1)])
def test_geo_72_transformations_are_distinct_and_in_the_documented_order(side, c):
    x = _img(side, c)
    ts = T.geo_transforms(side, 72)
    s = {32: 8, 28: 7, 8: 2}[side]
    assert T.default_shift(side) == s
    out = ts.apply_many(x, range(72))
    assert out.shape == (72, c, side, side)
    flat = out.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(72) > 1e-9).all(), "two transformations coincide"
    # label = 36 flip + 12 i(tx) + 4 i(ty) + k; flip columns, then translate (Keras: tx moves rows,
    # out[r] = in[r + tx]), then rotate counter-clockwise as numpy's rot90
    a = x[0].numpy()
    shifts = (0, -s, s)
    for flip, itx, ity, k in itertools.product(range(2), range(3), range(3), range(4)):
        t = 36 * flip + 12 * itx + 4 * ity + k
        assert ts.params[t] == (flip, shifts[itx], shifts[ity], k)
        ref = a[:, :, ::-1] if flip else a
        tx, ty = shifts[itx], shifts[ity]
        ref = np.stack([ndimage.shift(ch, (-tx, -ty), order=0, mode="reflect") for ch in ref])
        ref = np.rot90(ref, k, axes=(1, 2))
        assert np.allclose(out[t].numpy(), ref), t


def test_geo_8_is_flip_by_rotation():
    x = _img(28, 1)
    ts = T.geo_transforms(28, 8)
    for flip, k in itertools.product(range(2), range(4)):
        ref = torch.rot90(x.flip(-1) if flip else x, k, dims=(2, 3))
        assert torch.equal(ts.apply(x, 4 * flip + k), ref)


def test_rotations_and_flips_invert_and_translations_invert_on_the_interior():
    x = _img(32, 3)
    for k in range(4):
        assert torch.equal(T.rot90(T.rot90(x, k), 4 - k), x)
    assert torch.equal(T.hflip(T.hflip(x)), x)
    ts = T.geo_transforms(32, 72)
    for t, (flip, tx, ty, k) in enumerate(ts.params):
        y = T.rot90(ts.apply(x, t), -k)          # undo the rotation (exact)
        back = T.shift(y, tx, ty, "symmetric")   # undo the translation (exact on the interior)
        if flip:
            back = T.hflip(back)
        m_r, m_c = abs(tx), abs(ty)
        inner = (slice(None), slice(None), slice(m_r, 32 - m_r), slice(None))
        if flip:
            ref, got = T.hflip(x), T.hflip(back)
        else:
            ref, got = x, back
        sl = inner[:3] + (slice(m_c, 32 - m_c),)
        assert torch.equal(got[sl], ref[sl]), t
        if not (tx or ty):
            assert torch.equal(back, x), t


def test_apply_each_equals_per_image_apply():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(10, 3, 32, 32, generator=g)
    for ts in (T.geo_transforms(32, 72), T.geo_plus_transforms(32)):
        labels = torch.randint(len(ts), (10,), generator=g)
        out = ts.apply_each(x, labels)
        for i in range(10):
            assert torch.equal(out[i:i + 1], ts.apply(x[i:i + 1], int(labels[i])))


# ------------------------------------------------------------------ Geo+ transformations
def test_geo_plus_36_translate_then_rotate_with_reflect101():
    x = _img(32, 3, seed=2)
    ts = T.geo_plus_transforms(32)
    out = ts.apply_many(x, range(36))
    flat = out.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(36) > 1e-9).all()
    shifts = (0, -8, 8)
    t = torch.arange(36)
    rot, vert, horz = T.geo_plus_labels(t)
    for iv, ih, r in itertools.product(range(3), range(3), range(4)):
        lab = 12 * iv + 4 * ih + r
        assert (int(rot[lab]), int(vert[lab]), int(horz[lab])) == (r, iv, ih)
        ref = torch.rot90(F.pad(x, (8, 8, 8, 8), mode="reflect"), 0, dims=(2, 3))
        v, h = shifts[iv], shifts[ih]
        ref = ref[..., 8 - v:8 - v + 32, 8 - h:8 - h + 32]  # content moves down / right
        assert torch.equal(out[lab:lab + 1], torch.rot90(ref, r, dims=(2, 3))), lab
    assert T.geo_plus_subset(36) == list(range(36))
    sub = T.geo_plus_subset(20)
    assert len(set(sub)) == 20 and all(int(vert[i]) == 0 or int(horz[i]) == 0 for i in sub)


# ------------------------------------------------------------------ Wide ResNet
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_wrn_shapes_and_structure(shape):
    net = WideResNet(shape[0], 10, 4, heads=[4, 3, 3]).eval()
    out = net(torch.rand(2, *shape))
    assert out.shape == (2, 10)
    assert [z.shape[1] for z in net.split(out)] == [4, 3, 3]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    # WRN-10-4 ~ 1.21 M parameters with 72 outputs (baselines.md 3.3); WRN-16-4 ~ 2.7 M
    if shape == (3, 32, 32):
        n = sum(p.numel() for p in WideResNet(3, 10, 4, heads=72).parameters())
        assert 1.15e6 < n < 1.25e6, n
        n = sum(p.numel() for p in WideResNet(3, 16, 4, 0.3, heads=[4, 3, 3]).parameters())
        assert 2.6e6 < n < 2.8e6, n


# ------------------------------------------------------------------ Dirichlet
def test_inverse_digamma():
    y = torch.linspace(-30, 5, 50, dtype=torch.float64)
    assert torch.allclose(torch.special.digamma(inv_digamma(y)), y, atol=1e-8)


def test_dirichlet_fit_recovers_alpha():
    rng = np.random.default_rng(0)
    for alpha in ([2.0, 5.0, 0.7, 1.3], [0.3, 0.3, 0.5, 0.2, 0.9, 0.4, 0.3, 0.6]):
        alpha = np.array(alpha)
        s = rng.dirichlet(alpha, 40_000)
        fit = fit_dirichlet(torch.from_numpy(s.mean(0)), torch.from_numpy(np.log(s).mean(0)))
        assert np.allclose(fit.numpy(), alpha, rtol=0.05), (fit, alpha)


class _StubGeoNet(torch.nn.Module):
    """A fixed linear 'classifier' over the pixels with an alpha buffer, like geo's model."""

    def __init__(self, n_pixels, k):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(n_pixels, k, generator=g, dtype=torch.float64)
        self.register_buffer("alpha", torch.ones(k, k, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1).double() @ self.w


def test_dirichlet_score_matches_a_hand_computation():
    m = methods.get("geo", transforms=8)
    side = 4
    model = _StubGeoNet(side * side, 8)
    x = torch.rand(3, 1, side, side, dtype=torch.float64)
    alpha = torch.rand(8, 8, dtype=torch.float64) * 3 + 0.2
    model.alpha.copy_(alpha)
    ts = T.geo_transforms(side, 8)
    expected = torch.zeros(3, dtype=torch.float64)
    simple = torch.zeros(3, dtype=torch.float64)
    for t in range(8):
        p = torch.softmax(model(ts.apply(x, t)), 1)
        for i in range(3):
            expected[i] += sum((alpha[t, k] - 1) * math.log(p[i, k]) for k in range(8))
            simple[i] += p[i, t]
    expected, simple = -expected / 8, -simple / 8
    got = m.score(model, x)
    assert got.dtype == torch.float64 and torch.allclose(got, expected, atol=1e-9)
    assert torch.allclose(dirichlet_normality(alpha[0], torch.zeros(8)), torch.zeros((), dtype=torch.float64))
    m0 = methods.get("geo", transforms=8, dirichlet=0)
    assert torch.allclose(m0.score(model, x), simple, atol=1e-12)
    # batches larger than one network chunk give the same scores as piecewise scoring
    big = torch.rand(600, 1, side, side, dtype=torch.float64)
    for method in (m, m0):
        whole = method.score(model, big)
        parts = torch.cat([method.score(model, big[i:i + 100]) for i in range(0, 600, 100)])
        assert torch.allclose(whole, parts, atol=1e-9)


def test_finish_fits_alpha_per_transformation_from_training_softmax():
    m = methods.get("geo", transforms=8)
    side = 4
    model = _StubGeoNet(side * side, 8)
    g = torch.Generator().manual_seed(1)
    batches = [torch.rand(50, 1, side, side, generator=g, dtype=torch.float64) for _ in range(3)]
    m.finish(model, batches)
    x = torch.cat(batches)
    ts = T.geo_transforms(side, 8)
    for t in (0, 5):
        p = torch.softmax(model(ts.apply(x, t)), 1)
        ref = fit_dirichlet(p.mean(0), p.log().mean(0))
        assert torch.allclose(model.alpha[t], ref, rtol=1e-6)


# ------------------------------------------------------------------ Geo+ OE term
def test_geo_plus_oe_term_is_minimal_at_the_uniform_distribution():
    for k in (3, 4):
        z = torch.zeros(1, k, requires_grad=True)
        v = uniform_ce(z)
        v.sum().backward()
        assert torch.allclose(v, torch.tensor([math.log(k)]))
        assert torch.allclose(z.grad, torch.zeros(1, k), atol=1e-7)
        zc = torch.full((1, k), 5.0)  # equal logits at any level: still log K
        assert torch.allclose(uniform_ce(zc), torch.tensor([math.log(k)]))
        r = torch.randn(100, k) * 2
        assert (uniform_ce(r) > math.log(k) + 1e-6).all()
        # equals the cross-entropy from softmax(z) to the uniform distribution
        assert torch.allclose(uniform_ce(r), -(torch.log_softmax(r, 1)).mean(1), atol=1e-6)


def test_geo_plus_loss_uses_oe_and_score_options():
    torch.manual_seed(0)
    m = methods.get("geo-plus", preset="quick")
    model = m.build((1, 28, 28))
    x = torch.rand(6, 1, 28, 28)
    nominal = m.loss(model, x, torch.zeros(6))
    with_oe = m.loss(model, x, torch.tensor([0.0, 0, 0, 1, 1, 1]))
    assert torch.isfinite(nominal) and torch.isfinite(with_oe)
    with_oe.backward()
    model.eval()
    ce = m.score(model, x)
    prob = methods.get("geo-plus", preset="quick", probability_score=1).score(model, x)
    assert ce.dtype == prob.dtype == torch.float64
    assert (ce > 0).all() and (prob < 0).all() and (prob >= -3 * 20).all()
    # batches larger than one network chunk give the same scores as piecewise scoring
    model = m.build((1, 8, 8)).eval()
    big = torch.rand(300, 1, 8, 8)
    whole = m.score(model, big)
    parts = torch.cat([m.score(model, big[i:i + 50]) for i in range(0, 300, 50)])
    assert torch.allclose(whole, parts, rtol=1e-5)


# ------------------------------------------------------------------ presets and persistence
def test_presets_and_registration():
    assert methods.info("geo").oe == "never" and methods.info("geo-plus").oe == "optional"
    assert methods.info("geo").family == methods.info("geo-plus").family == "unsupervised"
    paper = methods.get("geo", preset="paper")
    assert paper.hp["transforms"] == 72 and paper.hp["widen"] == 4 and paper.hp["depth"] == 10
    rec = paper.recipe("cifar", "paper")
    assert rec["epochs"] == 3 and rec["lr"] == 1e-3 and rec["batch_size"] == 128
    assert rec["weight_decay"] == 5e-4 and tuple(rec["milestones"]) == ()
    assert paper.steps_per_epoch(39) == 39 * 72
    gp = methods.get("geo-plus", preset="paper")
    assert (gp.hp["depth"], gp.hp["widen"], gp.hp["dropout"], gp.hp["test_transforms"]) == (16, 4, 0.3, 36)
    for name in ("geo", "geo-plus"):
        for preset in ("quick", "paper"):
            assert all(isinstance(v, float) for v in methods.get(name, preset=preset).hp.values())


def test_geo_alpha_is_saved_with_the_weights_and_restored():
    from deepad.config import make_config
    from deepad.experiments import train_run
    from deepad.train import Detector
    cfg = make_config(dataset="digits", normal_class=0, oe="none", method="geo", preset="quick",
                      epochs=2, precision="fp32")
    det, metrics, arrays = train_run(cfg)
    state = det.state_dict()
    assert "alpha" in state and not torch.all(state["alpha"] == 1)
    again = Detector.restore("geo", det.shape_, state, preprocessing=det.preprocessing,
                             device="cpu", method_params=dict(cfg.method_params))
    from deepad.experiments import build_task
    test = build_task(cfg).test[:50]
    assert np.allclose(again.score_samples(test), det.score_samples(test))


def test_geo_plus_trains_with_oe():
    from deepad.config import make_config
    from deepad.experiments import train_run
    cfg = make_config(dataset="digits", normal_class=0, oe="noise-uniform", method="geo-plus",
                      preset="quick", epochs=2, precision="fp32")
    assert cfg.oe == "noise-uniform"
    det, metrics, arrays = train_run(cfg)
    assert metrics["n_oe"] > 0 and np.isfinite(arrays["scores"]).all()


# ------------------------------------------------------------------ real digits, quick preset
# The full quick presets on real MNIST digit 0 (AUROC >= 0.90, minutes each) are checked by
# benchmarks/baselines_mnist.py; here the same presets on the bundled 8x8 handwritten digits.
@pytest.mark.parametrize("method", ["geo", "geo-plus"])
def test_quick_preset_separates_the_digit_zero(method):
    from deepad.config import make_config
    from deepad.experiments import train_run
    cfg = make_config(dataset="digits", normal_class=0, oe="none", method=method, preset="quick")
    det, metrics, arrays = train_run(cfg)
    assert len(arrays["scores"]) == 719  # the bundled digits' test split
    assert metrics["auroc"] >= 0.85, metrics["auroc"]
