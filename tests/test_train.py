"""The Detector: scikit-learn-like face, OE batch construction, callbacks, divergence."""

import numpy as np
import pytest
import torch

from deepad import Callback, Cancelled, Detector
from deepad.data import sources
from deepad.errors import DeepadError, RunFailed


@pytest.fixture(scope="module")
def digits():
    d = sources.get("digits")
    tr, te = d.load("train"), d.load("test")
    nominal = tr.images[tr.labels == 0]
    pool = sources.get("photos").pool((1, 8, 8))
    oe = pool.take(np.arange(0, len(pool), len(pool) // 64)[:64])
    return nominal, oe, te.images, (te.labels != 0).numpy()


def test_fit_returns_self_and_scores_are_float64(digits):
    nominal, oe, test, labels = digits
    det = Detector("hsc", epochs=100, milestones=(33, 67), random_state=0)
    assert det.fit(nominal, oe) is det
    s = det.score_samples(test)
    assert s.dtype == np.float64 and s.shape == (len(test),)
    from deepad.metrics import auroc
    assert auroc(labels, s) > 0.95  # 8x8 zeros vs other digits separate easily
    assert len(det.history_) == 100 and det.history_[-1] < det.history_[0]


class Recorder:
    """An OE source that records which positions each batch asked for."""

    def __init__(self, images):
        self.images, self.calls = images, []

    def __len__(self):
        return len(self.images)

    def take(self, pos):
        self.calls.append(np.asarray(pos).copy())
        return self.images[torch.as_tensor(pos)]


def test_oe_batches_walk_the_subset_cyclically(digits):
    nominal, oe, *_ = digits
    rec = Recorder(oe[:64])
    nominal = nominal.repeat(3, 1, 1, 1)[:256]  # 2 steps of 128 per epoch
    Detector("hsc", epochs=2, random_state=0).fit(nominal, rec)
    assert len(rec.calls) == 4
    for pos in rec.calls:
        assert len(pos) == 128
        counts = np.bincount(pos, minlength=64)
        assert (counts == 2).all()  # 64 OE images: each exactly twice per batch, as the paper's code
    # a different seed walks them in a different order
    rec2 = Recorder(oe[:64])
    Detector("hsc", epochs=2, random_state=1).fit(nominal, rec2)
    assert not np.array_equal(rec.calls[0], rec2.calls[0])


def test_unsupervised_methods_never_see_oe(digits):
    nominal, oe, *_ = digits
    rec = Recorder(oe)
    Detector("deep-svdd", epochs=2).fit(nominal, rec)
    assert rec.calls == []


def test_callbacks_see_progress_and_can_cancel(digits):
    nominal, oe, *_ = digits
    events = []

    class Log(Callback):
        def on_fit_start(self, det, total):
            events.append(("start", total))

        def on_epoch_end(self, det, epoch, loss):
            events.append(("epoch", epoch))

        def on_fit_end(self, det):
            events.append(("end",))

    Detector("bce", epochs=3, callbacks=[Log()]).fit(nominal, oe)
    assert events == [("start", 3), ("epoch", 1), ("epoch", 2), ("epoch", 3), ("end",)]

    class Stop(Callback):
        def on_epoch_end(self, det, epoch, loss):
            raise Cancelled()

    with pytest.raises(Cancelled):
        Detector("bce", epochs=3, callbacks=[Stop()]).fit(nominal, oe)


def test_nan_loss_fails_clearly(digits, monkeypatch):
    nominal, oe, *_ = digits
    from deepad.methods.hsc import HSC
    monkeypatch.setattr(HSC, "loss", lambda self, model, x, y: model(x).sum() * float("nan"))
    with pytest.raises(RunFailed, match="diverged"):
        Detector("hsc", epochs=2).fit(nominal, oe)


def test_bad_arguments_are_clear(digits):
    nominal, oe, test, _ = digits
    with pytest.raises(DeepadError, match="not fitted"):
        Detector().score_samples(test)
    with pytest.raises(DeepadError, match="uint8"):
        Detector().fit(nominal.float(), oe)
    with pytest.raises(DeepadError, match="needs outliers"):
        Detector("hsc").fit(nominal)
    with pytest.raises(DeepadError, match="epochs"):
        Detector("bce", epochs=0).fit(nominal, oe)
    det = Detector("bce", epochs=1).fit(nominal, oe)
    with pytest.raises(DeepadError, match="shape"):
        det.score_samples(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def test_augmentation_keeps_shapes_and_range():
    from deepad.data.augment import CIFAR10_MEAN, CIFAR10_STD, Preprocessing, train_view
    prep = Preprocessing(augment=True, mean=CIFAR10_MEAN, std=CIFAR10_STD, pad=4)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    y = train_view(x, prep, g, blur_sigma=2.0)
    assert y.shape == (16, 3, 32, 32) and torch.isfinite(y).all()
    # undo the normalisation: pixels stay within [0, 1] up to the 0.001 noise
    m = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    s = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    raw = y * s + m
    assert raw.min() > -0.01 and raw.max() < 1.01
    # with augmentation off, the view is just the scaled pixels
    plain = train_view(x, Preprocessing(), g)
    assert torch.allclose(plain, x.float() / 255)


@pytest.mark.parametrize("method", ["hsc", "itae"])  # itae draws from torch inside its loss
def test_a_fit_depends_on_its_seed_alone_and_leaves_the_callers_rng_alone(digits, method):
    nominal, oe, test, _ = digits

    def fit(seed, caller_seed):
        torch.manual_seed(caller_seed)
        det = Detector(method, epochs=2, random_state=seed).fit(nominal, oe)
        return det.score_samples(test), torch.rand(4)

    a, after_a = fit(1, caller_seed=5)
    b, after_b = fit(1, caller_seed=99)  # another global state before: the same run
    c, _ = fit(2, caller_seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    torch.manual_seed(5)
    assert torch.equal(after_a, torch.rand(4))  # as if no fit had happened in between
    torch.manual_seed(99)
    assert torch.equal(after_b, torch.rand(4))


def test_oe_batch_shows_a_small_oe_set_once_per_step(digits):
    nominal, oe, *_ = digits
    nominal = nominal.repeat(3, 1, 1, 1)[:256]
    rec = Recorder(oe[:32])
    det = Detector("bce", epochs=2, random_state=0, oe_batch=32).fit(nominal, rec)
    assert len(rec.calls) == 4
    for pos in rec.calls:
        assert sorted(pos) == list(range(32))  # each OE image once per step, not four times
    assert np.isfinite(det.history_).all()


def test_oe_augment_off_gives_the_oe_images_their_evaluation_view(digits, monkeypatch):
    """With oe_augment=False the OE half of each batch is exactly the evaluation view of the OE
    images (no flips, crops or noise); the nominal half is still augmented."""
    from deepad.data.augment import Preprocessing, eval_view
    from deepad.methods.hsc import HSC
    nominal, oe, *_ = digits
    nominal = nominal.repeat(3, 1, 1, 1)[:128]
    prep = Preprocessing(augment=True, pad=1)
    seen = []
    real = HSC.loss

    def spy(self, model, x, y):
        seen.append((x.detach().clone(), y.clone()))
        return real(self, model, x, y)

    monkeypatch.setattr(HSC, "loss", spy)
    rec = Recorder(oe[:128])
    for augment in (False, True):
        seen.clear()
        rec.calls.clear()
        Detector("hsc", epochs=1, random_state=0, preprocessing=prep, oe_augment=augment,
                 channels_last=False).fit(nominal, rec)
        x, y = seen[0]
        oe_part = x[y == 1]
        expect = eval_view(oe[:128][torch.as_tensor(rec.calls[0])], prep)
        assert torch.equal(oe_part, expect) == (not augment)
        assert not torch.equal(x[y == 0], eval_view(nominal, prep)[:len(x[y == 0])])
