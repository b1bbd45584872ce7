"""Deep SVDD and the convolutional autoencoder against baselines.md sections 2 and 6:
GCN + min-max preprocessing, bias-free networks, autoencoder pretraining, presets, and the quick
preset on real MNIST."""

import time

import pytest
import torch
from torch import nn

from deepad import methods
from deepad.methods.deep_svdd import GCNMinMax, gcn_l1, pretrain_schedule
from deepad.nets import AutoEncoder


def test_gcn_l1_and_min_max_by_hand():
    x = torch.tensor([[[[0.0, 0.2], [0.4, 1.0]]], [[[0.5, 0.5], [0.5, 0.5]]],
                      [[[1.0, 0.0], [0.0, 0.0]]]])  # (3, 1, 2, 2); the second is flat
    # image 0: mean 0.4, centred (-0.4, -0.2, 0, 0.6), mean |.| 0.3
    g0 = torch.tensor([-0.4, -0.2, 0.0, 0.6]) / 0.3
    # image 2: mean 0.25, centred (0.75, -0.25 x 3), mean |.| 0.375
    g2 = torch.tensor([0.75, -0.25, -0.25, -0.25]) / 0.375
    g = gcn_l1(x).reshape(3, 4)
    assert torch.allclose(g[0], g0, atol=1e-6)
    assert torch.equal(g[1], torch.zeros(4))  # a flat image: all zeros, no division by zero
    assert torch.allclose(g[2], g2, atol=1e-6)
    pre = GCNMinMax()
    assert torch.equal(pre(x), x)  # the identity until fitted
    pre.fit(x)
    lo, hi = min(g0.min(), g2.min()), max(g0.max(), g2.max())  # -4/3 and 2
    assert float(pre.lo) == pytest.approx(float(lo)) and float(pre.hi) == pytest.approx(float(hi))
    out = pre(x).reshape(3, 4)
    assert torch.allclose(out[0], (g0 - lo) / (hi - lo), atol=1e-6)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    # the constants are buffers: they travel with the weights
    assert {"gcn", "lo", "hi"} <= set(pre.state_dict())
    back = GCNMinMax()
    back.load_state_dict(pre.state_dict())
    assert torch.equal(back(x), pre(x))
    # gcn=0 switches the whole step off
    assert torch.equal(GCNMinMax().fit(x, gcn=False)(x), x)


def test_deep_svdd_model_keeps_the_preprocessing_constants():
    torch.manual_seed(0)
    m = methods.get("deep-svdd", pretrain=0)
    model = m.build((3, 32, 32))
    x = torch.rand(40, 3, 32, 32)
    m.prepare(model, [x[:20], x[20:]])
    g = gcn_l1(x)
    assert float(model.pre.lo) == pytest.approx(float(g.min()), rel=1e-6)
    assert float(model.pre.hi) == pytest.approx(float(g.max()), rel=1e-6)
    state = model.state_dict()
    assert "pre.lo" in state and "pre.hi" in state and "center" in state
    back = m.load_state(m.build((3, 32, 32)), state).eval()
    model.eval()
    with torch.no_grad():
        assert torch.equal(m.score(back, x), m.score(model, x))


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (1, 8, 8)])
def test_networks_are_bias_free(shape):
    svdd = methods.get("deep-svdd").build(shape)
    ae = methods.get("ae").build(shape)
    for net in (svdd, ae):
        names = [n for n, _ in net.named_parameters()]
        assert names and not any("bias" in n for n in names), names
        for mod in net.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                assert not mod.affine and mod.eps == pytest.approx(1e-4)
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                assert mod.bias is None
    # no bounded activation in the Deep SVDD network
    assert not any(isinstance(mod, (nn.Sigmoid, nn.Tanh)) for mod in svdd.modules())


def test_autoencoder_architectures_follow_the_papers():
    cifar = AutoEncoder((3, 32, 32))
    assert cifar.kind == "cifar"
    assert sum(p.numel() for p in cifar.parameters()) == 804_544  # CIFAR10_LeNet_Autoencoder
    assert isinstance(cifar.bottleneck, nn.BatchNorm1d) and cifar.code_channels == 8
    assert [c.in_channels for c in cifar.deconvs] == [8, 128, 64]
    assert all(c.kernel_size == (5, 5) and c.stride == (1, 1) for c in cifar.deconvs)
    mnist = AutoEncoder((1, 28, 28))
    assert mnist.kind == "mnist" and not hasattr(mnist, "bottleneck")
    assert sum(p.numel() for p in mnist.parameters()) == 8_472  # MNIST_LeNet_Autoencoder
    assert mnist.deconvs[1].padding == (3, 3)
    for net, shape in ((cifar, (3, 32, 32)), (mnist, (1, 28, 28)), (AutoEncoder((1, 8, 8)), (1, 8, 8)),
                       (AutoEncoder((3, 64, 64)), (3, 64, 64))):
        y = net.eval()(torch.randn(2, *shape) * 5)
        assert y.shape == (2, *shape) and y.min() >= 0 and y.max() <= 1  # sigmoid output


def test_pretraining_copies_the_trained_encoder(monkeypatch):
    built = []

    class Recorded(AutoEncoder):
        def __init__(self, shape):
            super().__init__(shape)
            self.initial = {k: v.clone() for k, v in self.encoder.state_dict().items()}
            built.append(self)

    import deepad.nets
    monkeypatch.setattr(deepad.nets, "AutoEncoder", Recorded)  # deep_svdd builds it from there
    torch.manual_seed(0)
    m = methods.get("deep-svdd", pretrain=1, pretrain_epochs=3)
    shape = (1, 28, 28)
    model = m.build(shape)
    before = {k: v.clone() for k, v in model.phi.state_dict().items()}
    x = torch.rand(50, *shape)
    m.prepare(model, [x])
    assert len(built) == 1
    ae = built[0]
    after = model.phi.state_dict()
    trained = ae.encoder.state_dict()
    assert set(after) == set(trained)
    for k in after:
        assert torch.equal(after[k], trained[k]), k  # conv, fc weights and BN running stats
    for k in ("features.0.conv.weight", "features.1.conv.weight", "fc.weight"):
        assert not torch.equal(after[k], before[k]), k
        assert not torch.equal(after[k], ae.initial[k]), k  # the autoencoder was trained
    assert not torch.equal(after["features.0.bn.running_mean"], before["features.0.bn.running_mean"])
    assert m.pretrain_info["epochs"] == 3 and m.pretrain_info["weight_decay"] == 0.5e-3
    # the centre comes after the pretraining, from the pretrained network
    model.eval()
    with torch.no_grad():
        raw = model(x).mean(0)
    c = model.center
    big = raw.abs() >= 0.1
    assert torch.allclose(c[big], raw[big], atol=1e-5)
    assert torch.allclose(c[~big].abs(), torch.full_like(c[~big], 0.1))


def test_pretraining_is_deterministic_for_a_seed():
    def run():
        torch.manual_seed(3)
        m = methods.get("deep-svdd", pretrain_epochs=2)
        model = m.build((1, 8, 8))
        m.prepare(model, [torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(1))])
        return model.state_dict()
    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pretrain_schedule_and_params():
    assert pretrain_schedule(-1, 3) == (350, 250, 0.5e-6)
    assert pretrain_schedule(-1, 1) == (150, 50, 0.5e-3)
    assert pretrain_schedule(20, 3) == (20, 15, 0.5e-6)
    assert methods.get("deep-svdd", preset="paper").hp["pretrain_epochs"] == -1
    assert methods.get("deep-svdd", preset="quick").hp == {"gcn": 1, "pretrain": 1, "pretrain_epochs": 20}
    from deepad.errors import DeepadError
    for bad in (dict(gcn=2), dict(pretrain=0.5), dict(pretrain_epochs=0), dict(pretrain_epochs=2.5)):
        with pytest.raises(DeepadError):
            methods.get("deep-svdd", **bad)
    with pytest.raises(DeepadError):
        methods.get("ae", gcn=3)


def test_no_augmentation_and_no_normalisation():
    from deepad.data.augment import Preprocessing
    cifar = Preprocessing(augment=True, mean=(0.5,) * 3, std=(0.25,) * 3, pad=4)
    for name in ("deep-svdd", "ae"):
        p = methods.get(name).adapt_preprocessing(cifar)
        assert not p.augment and p.mean is None and p.std is None and p.pad == 0


def test_presets_follow_the_recipes():
    svdd, ae = methods.get("deep-svdd"), methods.get("ae")
    for profile in ("cifar", "mnist"):
        assert svdd.recipe(profile, "paper") == {"epochs": 150, "milestones": (50,), "lr": 1e-4,
                                                 "batch_size": 200, "weight_decay": 0.5e-6}
    assert svdd.recipe("cifar", "quick")["epochs"] == 20 and svdd.recipe("cifar", "quick")["milestones"] == (15,)
    assert ae.recipe("cifar", "paper") == {"epochs": 350, "milestones": (250,), "lr": 1e-4,
                                           "batch_size": 200, "weight_decay": 0.5e-6}
    assert ae.recipe("mnist", "paper") == {"epochs": 150, "milestones": (50,), "lr": 1e-4,
                                           "batch_size": 200, "weight_decay": 0.5e-3}
    assert ae.recipe("cifar", "quick")["epochs"] == 25 and ae.recipe("cifar", "quick")["milestones"] == (20,)


def test_feature_vectors_still_work_without_gcn_or_pretraining():
    """The 2-D toy data: no GCN, no autoencoder, only the centre."""
    torch.manual_seed(0)
    m = methods.get("deep-svdd")
    model = m.build((2,))
    m.prepare(model, [torch.randn(64, 2)])
    assert float(model.pre.gcn) == 0 and float(model.pre.lo) == 0 and float(model.pre.hi) == 1
    assert m.pretrain_info == {}


# The quick presets on real MNIST digit 0. To stay well under two minutes on two shared cores the
# tests shorten them: Deep SVDD 5 + 5 epochs instead of 20 + 20 (AUROC ~0.95; the full quick preset
# ~0.97), the autoencoder 5 epochs instead of 25 (~0.94; the full quick preset ~0.98).
@pytest.mark.parametrize("method,extra", [("deep-svdd", dict(epochs=5, pretrain_epochs=5)),
                                          ("ae", dict(epochs=5))])
def test_quick_preset_on_mnist_zero(method, extra, shared_data):
    from deepad.config import make_config
    from deepad.experiments import train_run
    cfg = make_config(dataset="mnist", normal_class=0, oe="none", method=method, preset="quick", **extra)
    assert cfg.batch_size == 200 and cfg.milestones
    t0 = time.perf_counter()
    _, metrics, _ = train_run(cfg, device="cpu")
    seconds = time.perf_counter() - t0
    assert metrics["auroc"] >= 0.90, (method, metrics["auroc"], seconds)
