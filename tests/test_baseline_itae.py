"""ITAE (baselines section 5): the input transformation, the score by hand, the network's shapes,
the presets, and one real-data run (MNIST digit 0, quick preset)."""

import time

import numpy as np
import pytest
import torch
from torch import nn

from deepad import methods
from deepad.data.augment import CIFAR10_MEAN, CIFAR10_STD, Preprocessing
from deepad.methods.itae import gray, rotate, transform

IMG = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)


@pytest.fixture
def one_thread():
    """Training on a shared 2-core machine: one intra-op thread avoids OpenMP spinning against
    the other workers (several times faster under load); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_gray_is_the_channel_mean_and_identity_for_one_channel():
    x = torch.tensor([[[[0.0, 3.0]], [[3.0, 6.0]], [[6.0, 0.0]]]])  # (1, 3, 1, 2)
    assert gray(x).shape == (1, 1, 1, 2)
    assert gray(x).flatten().tolist() == [3.0, 3.0]
    y = torch.rand(4, 1, 5, 5)
    assert torch.equal(gray(y), y)


def test_rotations_by_hand():
    # counter-clockwise as displayed (row 0 on top), as PIL's Image.rotate and np.rot90
    expected = {0: [[1, 2], [3, 4]], 1: [[2, 4], [1, 3]], 2: [[4, 3], [2, 1]], 3: [[3, 1], [4, 2]]}
    for k, e in expected.items():
        assert rotate(IMG, k)[0, 0].tolist() == e
    x = torch.arange(2 * 3 * 9, dtype=torch.float32).view(2, 3, 3, 3)
    for k in range(4):
        assert torch.equal(rotate(x, k), torch.rot90(x, k, dims=(2, 3)))
        assert torch.equal(rotate(x, k), torch.from_numpy(np.rot90(x.numpy(), k, axes=(2, 3)).copy()))


def test_transform_rotates_each_image_by_its_own_k_after_graying():
    x = torch.rand(4, 3, 5, 5)
    k = torch.tensor([2, 0, 3, 1])
    t = transform(x, k)
    assert t.shape == (4, 1, 5, 5)
    for i in range(4):
        want = torch.rot90(x[i:i + 1].mean(1, keepdim=True), int(k[i]), dims=(2, 3))
        assert torch.allclose(t[i:i + 1], want)


class _Recorder(nn.Module):
    """Returns a fixed output and remembers its input."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        self.seen = x
        return self.out


def test_loss_target_is_the_upright_colour_image():
    torch.manual_seed(0)
    m = methods.get("itae")
    x = torch.rand(64, 3, 4, 4)
    out = torch.rand(64, 3, 4, 4)
    rec = _Recorder(out)
    loss = m.loss(rec, x, torch.zeros(64))
    assert loss.item() == pytest.approx((out - x).pow(2).mean().item(), rel=1e-6)
    # the input: one channel, gray(rotate(x_i, k_i)) for some k_i, every k drawn in a batch of 64
    assert rec.seen.shape == (64, 1, 4, 4)
    ks = []
    for i in range(64):
        g = x[i:i + 1].mean(1, keepdim=True)
        hits = [r for r in range(4) if torch.allclose(rec.seen[i:i + 1], torch.rot90(g, r, (2, 3)))]
        assert hits, f"image {i} is no rotation of its grey version"
        ks.append(hits[0])
    assert set(ks) == {0, 1, 2, 3}


def test_flip_replaces_the_data_set_augmentation():
    m = methods.get("itae")
    cifar = Preprocessing(augment=True, mean=CIFAR10_MEAN, std=CIFAR10_STD, pad=4)
    p = m.adapt_preprocessing(cifar)
    assert not p.augment and p.mean == CIFAR10_MEAN and p.std == CIFAR10_STD
    assert m.flip
    m2 = methods.get("itae")
    assert m2.adapt_preprocessing(Preprocessing()) == Preprocessing() and not m2.flip
    # with the flip, each target is x or x flipped left-right
    torch.manual_seed(1)
    x = torch.rand(32, 1, 4, 4)
    rec = _Recorder(torch.zeros(32, 1, 4, 4))
    m.loss(rec, x, torch.zeros(32))
    flipped = 0
    for i in range(32):
        g = rec.seen[i:i + 1]
        plain = any(torch.allclose(g, torch.rot90(x[i:i + 1], r, (2, 3))) for r in range(4))
        mirrored = any(torch.allclose(g, torch.rot90(x[i:i + 1].flip(3), r, (2, 3))) for r in range(4))
        assert plain or mirrored
        flipped += mirrored and not plain
    assert 0 < flipped < 32


class _PlusOne(nn.Module):
    """A fixed 'restorer': the grey rotated input + 1, repeated to `c` channels."""

    def __init__(self, c=1):
        super().__init__()
        self.c = c
        self.register_buffer("rot_err", torch.ones(4))

    def forward(self, x):
        return (x + 1).expand(-1, self.c, -1, -1)


def test_score_by_hand_with_per_rotation_normalisation():
    m = methods.get("itae")
    model = _PlusOne()
    x = IMG
    x2 = torch.tensor([[0.0, 0.0], [0.0, 4.0]]).view(1, 1, 2, 2)
    both = torch.cat([x, x2])
    # L1 errors per rotation (k = 0..3), worked out by hand from the rotations above:
    # x:  |x + 1 - x| = 1; |[[2,4],[1,3]] + 1 - x| = (2+3+1+0)/4 = 1.5; (4+2+0+2)/4 = 2; (3+0+2+1)/4 = 1.5
    # x2: 1; (1+5+1+3)/4 = 2.5; 2.5; 2.5
    assert m._errors(model, both).tolist() == [[1, 1.5, 2, 1.5], [1, 2.5, 2.5, 2.5]]
    # before finish: no normalisation (rot_err = 1)
    assert m.score(model, both).tolist() == pytest.approx([6 / 4, 8.5 / 4])
    m.finish(model, [x, x2])  # mean training error per rotation, over two batches
    assert model.rot_err.tolist() == [1, 2, 2.25, 2]
    s = m.score(model, both)
    assert s.dtype == torch.float64 and s.shape == (2,)
    assert s.tolist() == pytest.approx([(1 + 1.5 / 2 + 2 / 2.25 + 1.5 / 2) / 4,
                                        (1 + 2.5 / 2 + 2.5 / 2.25 + 2.5 / 2) / 4], rel=1e-12)
    # normalize=0: raw errors, and finish leaves the buffer alone
    raw = methods.get("itae", normalize=0)
    model2 = _PlusOne()
    raw.finish(model2, [x, x2])
    assert model2.rot_err.tolist() == [1, 1, 1, 1]
    assert raw.score(model, both).tolist() == pytest.approx([6 / 4, 8.5 / 4])


def test_score_matches_a_per_image_reference_on_colour_images():
    torch.manual_seed(0)
    m = methods.get("itae")
    model = _PlusOne(c=3)
    model.rot_err.copy_(torch.tensor([0.5, 1.0, 2.0, 4.0]))
    x = torch.rand(5, 3, 6, 6)
    want = []
    for img in x:
        errs = [((torch.rot90(img.mean(0, keepdim=True), r, (1, 2)) + 1) - img).abs().mean().item()
                / [0.5, 1.0, 2.0, 4.0][r] for r in range(4)]
        want.append(sum(errs) / 4)
    assert m.score(model, x).tolist() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("shape,depth", [((1, 28, 28), 3), ((3, 32, 32), 4), ((1, 8, 8), 2)])
def test_unet_shapes(shape, depth):
    m = methods.get("itae")
    model = m.build(shape).eval()
    assert model.unet.depth == depth
    x = torch.rand(2, *shape)
    with torch.no_grad():
        assert model(gray(x)).shape == (2, *shape)
    s = m.score(model, x)
    assert s.shape == (2,) and s.dtype == torch.float64 and torch.isfinite(s).all()


def test_paper_width_matches_the_reference_size_and_rot_err_is_saved():
    m = methods.get("itae", preset="paper")
    model = m.build((3, 32, 32))
    assert model.unet.widths == (64, 128, 256, 512, 512)
    n = sum(p.numel() for p in model.parameters())
    assert 13.3e6 < n < 13.5e6  # about 13.4 M, as the unofficial model
    model.rot_err.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    state = model.state_dict()
    assert "rot_err" in state
    fresh = m.load_state(m.build((3, 32, 32)), state)
    assert fresh.rot_err.tolist() == [1, 2, 3, 4]


def test_presets(shared_data):
    from deepad.config import make_config
    m = methods.get("itae")
    paper = m.recipe("cifar", "paper")
    assert (paper["epochs"], paper["milestones"], paper["batch_size"], paper["lr"]) == (125, (42, 83), 32, 1e-3)
    quick = m.recipe("cifar", "quick")
    assert (quick["epochs"], quick["milestones"], quick["batch_size"]) == (15, (10,), 32)
    p = make_config(dataset="mnist", normal_class=0, oe="none", method="itae", preset="paper")
    assert (p.epochs, p.batch_size) == (500, 32)
    assert dict(p.method_params) == {"width": 64.0, "normalize": 1.0}
    q = make_config(dataset="mnist", normal_class=0, oe="none", method="itae", preset="quick")
    assert (q.epochs, q.milestones, q.batch_size, q.lr) == (3, (2,), 32, 5e-3)
    assert dict(q.method_params) == {"width": 8.0, "normalize": 1.0}


def test_quick_preset_separates_the_digit_zero(one_thread):
    """On the bundled 8x8 digits in seconds; the preset on real MNIST (AUROC >= 0.90, minutes) is
    benchmarks/baselines_mnist.py's."""
    from deepad.config import make_config
    from deepad.experiments import train_run
    cfg = make_config(dataset="digits", normal_class=0, oe="none", method="itae", preset="quick")
    t0 = time.perf_counter()
    det, m, _ = train_run(cfg, device="cpu")
    seconds = time.perf_counter() - t0
    assert m["auroc"] >= 0.90, m["auroc"]
    assert det.history_[-1] < det.history_[0]
    assert (det.model_.rot_err > 0).all() and (det.model_.rot_err != 1).all()
    print(f"ITAE quick, digits 0: AUROC {m['auroc']:.4f} in {seconds:.0f} s")
