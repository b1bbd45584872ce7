"""Every registered method honours the same contract, on a small real subset (real MNIST digits):
it fits, its scores are finite float64, higher means more anomalous, a seed fixes the result, and a
stored run restores to the same scores. Methods added to the registry are covered automatically."""

import numpy as np
import pytest
import torch

from deepad import methods
from deepad.data import sources
from deepad.metrics import auroc
from deepad.train import Detector

ALL = methods.names()
BASELINES = ("ocsvm", "geo", "geo-plus", "itae")


@pytest.fixture
def mnist_subset(shared_data):
    """400 zeros to train on; 100 held-out zeros and 100 other digits to score; 128 OE images
    (MNIST sevens turned by 90 degrees, a stand-in for a natural OE set)."""
    src = sources.get("mnist")
    tr, te = src.load("train"), src.load("test")
    zeros = tr.images[tr.labels == 0][:400]
    test_nom = te.images[te.labels == 0][:100]
    test_ano = te.images[te.labels != 0][:100]
    oe = np.rot90(tr.images[tr.labels == 7][:128], 1, axes=(2, 3)).copy()
    x_test = np.concatenate([test_nom, test_ano])
    y_test = np.r_[np.zeros(100), np.ones(100)]
    return zeros, oe, x_test, y_test, src.preprocessing()


def _fit(name, data, seed=0):
    """The method's own quick recipe for MNIST (learning rate, batch, weight decay), with at most
    5 epochs on the small subset."""
    zeros, oe, _, _, prep = data
    cls = methods.REGISTRY[name]
    rec = methods.get(name).recipe("mnist", "quick")
    det = Detector(name, epochs=min(int(rec.get("epochs", 5)), 5), milestones=(),
                   batch_size=int(rec.get("batch_size", 64)), lr=float(rec.get("lr", 1e-3)),
                   weight_decay=float(rec.get("weight_decay", 5e-7)), preprocessing=prep,
                   random_state=seed)
    return det.fit(zeros, oe if cls.oe != "never" else None)


@pytest.mark.parametrize("name", ALL)
def test_contract(name, mnist_subset):
    _, _, x_test, y_test, _ = mnist_subset
    det = _fit(name, mnist_subset)
    s = det.score_samples(x_test)
    assert s.dtype == np.float64 and s.shape == (len(x_test),)
    assert np.isfinite(s).all()
    # higher = more anomalous: other digits score above held-out zeros after a short training
    assert auroc(y_test, s) > 0.6, f"{name}: AUROC {auroc(y_test, s):.3f} on zeros vs other digits"
    # a seed fixes the result
    again = _fit(name, mnist_subset).score_samples(x_test)
    np.testing.assert_allclose(again, s, rtol=1e-6, atol=1e-9)
    # saved weights restore to the same scores (what the run store does)
    back = Detector.restore(name, x_test.shape[1:], det.state_dict(), preprocessing=det.preprocessing,
                            method_params=det.method_params)
    np.testing.assert_allclose(back.score_samples(x_test), s, rtol=1e-5, atol=1e-8)


def test_baselines_are_registered_with_the_papers_families():
    for name in BASELINES:
        if name not in methods.REGISTRY:
            pytest.fail(f"{name} is not in the method registry")
    info = {n: methods.info(n) for n in BASELINES}
    assert all(i.family == "unsupervised" for i in info.values())
    assert info["ocsvm"].oe == "never" and info["geo"].oe == "never" and info["itae"].oe == "never"
    assert info["geo-plus"].oe == "optional"


def test_presets_change_the_baselines_recipes():
    """Each baseline has a paper and a quick configuration, and they differ."""
    from deepad.config import make_config
    for name in BASELINES:
        assert name in methods.REGISTRY, f"{name} is not in the method registry"
        q = make_config(dataset="digits", oe="none", method=name, preset="quick")
        p = make_config(dataset="digits", oe="none", method=name, preset="paper")
        assert q != p, name
        assert q.key != p.key


def test_direct_method_state_survives_torch_free_reload(mnist_subset):
    """The OC-SVM's fitted state is plain tensors (support vectors and all), float64."""
    det = _fit("ocsvm", mnist_subset)
    state = det.state_dict()
    assert state["support"].dtype == torch.float64 and state["support"].ndim == 2
    assert state["components"].shape[1] == 28 * 28
