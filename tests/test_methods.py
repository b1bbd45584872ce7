"""Each method's loss and score against values computed by hand from paper-protocol.md section 2."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepad import methods


class Fixed(nn.Module):
    """A 'network' that returns given outputs, to test losses on chosen representations."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out


Z = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [0.5, -0.5]])
Y = torch.tensor([0.0, 1.0, 0.0, 1.0])
X = torch.zeros(4, 1, 8, 8)


def h(z):
    return math.sqrt(sum(v * v for v in z) + 1) - 1


def test_hsc_loss_and_score_by_hand():
    m = methods.get("hsc")
    expected = []
    for z, y in zip(Z.tolist(), Y.tolist()):
        hz = h(z)
        expected.append(-math.log(1 - math.exp(-hz) + 1e-9) if y else hz)
    assert m.loss(Fixed(Z), X, Y).item() == pytest.approx(np.mean(expected), rel=1e-6)
    scores = m.score(Fixed(Z), X)
    assert scores.dtype == torch.float64
    assert scores.tolist() == pytest.approx([1 - math.exp(-h(z)) for z in Z.tolist()], rel=1e-12)
    # the pseudo-Huber distance of (3, 4) is sqrt(26) - 1
    assert h([3, 4]) == pytest.approx(math.sqrt(26) - 1)


def test_deep_sad_loss_and_score_by_hand():
    m = methods.get("deep-sad")
    d = [sum(v * v for v in z) for z in Z.tolist()]
    expected = [1 / (di + 1e-9) if y else di for di, y in zip(d, Y.tolist())]
    assert m.loss(Fixed(Z), X, Y).item() == pytest.approx(np.mean(expected), rel=1e-5)
    assert m.score(Fixed(Z), X).tolist() == pytest.approx(d)


def test_bce_and_focal_by_hand():
    logits = torch.tensor([-2.0, 1.5, 0.3, -0.7])
    bce = [math.log1p(math.exp(-l)) if y else math.log1p(math.exp(l))
           for l, y in zip(logits.tolist(), Y.tolist())]
    assert methods.get("bce").loss(Fixed(logits), X, Y).item() == pytest.approx(np.mean(bce), rel=1e-5)
    for gamma in (0.0, 0.5, 2.0, 4.0):
        fl = []
        for b in bce:
            pt = min(max(math.exp(-b), 1e-7), 1 - 1e-7)
            fl.append((1 - pt) ** gamma * b)
        got = methods.get("focal", gamma=gamma).loss(Fixed(logits), X, Y).item()
        assert got == pytest.approx(np.mean(fl), rel=1e-5)
    sig = [1 / (1 + math.exp(-l)) for l in logits.tolist()]
    assert methods.get("bce").score(Fixed(logits), X).tolist() == pytest.approx(sig)
    assert methods.get("focal").score(Fixed(logits), X).tolist() == pytest.approx(sig)


def test_focal_gamma_zero_is_bce():
    logits = torch.randn(64)
    y = (torch.rand(64) > 0.5).float()
    a = methods.get("focal", gamma=0.0).loss(Fixed(logits), X, y)
    b = methods.get("bce").loss(Fixed(logits), X, y)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_deep_svdd_centre_rule_and_loss():
    torch.manual_seed(0)
    m = methods.get("deep-svdd")
    model = m.build((1, 8, 8))
    batches = [torch.rand(16, 1, 8, 8) for _ in range(3)]
    m.prepare(model, batches)
    c = model.center
    model.eval()
    with torch.no_grad():
        raw = torch.cat([model(b) for b in batches]).mean(0)
    small = raw.abs() < 0.1
    assert torch.allclose(c[~small], raw[~small], atol=1e-5)
    assert small.any(), "a random bias-free net should give some small centre coordinates"
    assert torch.allclose(c[small].abs(), torch.full_like(c[small], 0.1))
    assert torch.equal(torch.sign(c[small]), torch.sign(raw[small]))
    x = batches[0]
    with torch.no_grad():
        expected = (model(x) - c).pow(2).sum(1)
        assert torch.allclose(m.score(model, x).float(), expected, atol=1e-5)
    # the bias-free network has no bias anywhere (rules out the constant solution)
    assert not any(n.endswith("bias") for n, _ in model.named_parameters())


def test_ae_score_is_reconstruction_error():
    m = methods.get("ae")
    model = m.build((1, 28, 28)).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        expected = (model(x) - x).pow(2).flatten(1).mean(1)
        assert torch.allclose(m.score(model, x).float(), expected, atol=1e-6)


@pytest.mark.parametrize("name", methods.names())
def test_every_method_trains_one_step_and_scores(name):
    """The registry contract: build, loss (finite, differentiable) or direct fit, score (N,)
    float64."""
    m = methods.get(name)
    model = m.build((1, 28, 28))
    x = torch.rand(8, 1, 28, 28)
    y = torch.tensor([0.0] * 4 + [1.0] * 4) if m.oe != "never" else torch.zeros(8)
    if m.direct:  # fitted in one call (a kernel method), no gradient steps
        m.fit_direct(model, x)
    else:
        m.prepare(model, [x])
        loss = m.loss(model, x, y)
        assert loss.ndim == 0 and torch.isfinite(loss)
        loss.backward()
    model.eval()
    s = m.score(model, x)
    assert s.shape == (8,) and s.dtype == torch.float64 and torch.isfinite(s).all()
    info = methods.info(name)
    assert info.family in methods.FAMILIES and info.oe in ("required", "never", "optional")


def test_unknown_method_and_parameter_are_clear():
    from deepad.errors import DeepadError
    with pytest.raises(DeepadError, match="unknown method 'nope'"):
        methods.get("nope")
    with pytest.raises(DeepadError, match="no parameter"):
        methods.get("hsc", gamma=2)
