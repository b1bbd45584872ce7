"""Tests for the CBAM ResNet-18 encoder (deepad.nets.resnet)."""

import pytest
import torch
from torch import nn

from deepad.nets.resnet import CBAMResNet18


def _expected_param_count(in_channels: int, rep_dim: int) -> int:
    """Parameter count derived from the layer shapes of the specification (not from the model)."""

    def bn(c: int) -> int:  # weight + bias
        return 2 * c

    def cbam(c: int) -> int:
        h = c // 16
        mlp = (c * h + h) + (h * c + c)  # Linear C->C/16, Linear C/16->C, both with bias
        spatial = 2 * 1 * 7 * 7 + bn(1)  # conv 2->1 7x7 without bias, BN(1)
        return mlp + spatial

    def block(cin: int, planes: int, stride: int) -> int:
        n = cin * planes * 9 + bn(planes) + planes * planes * 9 + bn(planes) + cbam(planes)
        if stride != 1 or cin != planes:
            n += cin * planes + bn(planes)
        return n

    total = in_channels * 64 * 7 * 7 + bn(64)
    cin = 64
    for width, stride in zip((64, 128, 256, 512), (1, 2, 2, 2)):
        total += block(cin, width, stride) + block(width, width, 1)
        cin = width
    total += 512 * rep_dim + rep_dim
    return total


@pytest.fixture(scope="module")
def model() -> CBAMResNet18:
    torch.manual_seed(0)
    return CBAMResNet18(in_channels=3, rep_dim=256)


def test_forward_shape_224(model):
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, 256)
    assert torch.isfinite(out).all()


def test_forward_shape_64_and_other_dims():
    torch.manual_seed(0)
    net = CBAMResNet18(in_channels=1, rep_dim=32).eval()
    with torch.no_grad():
        out = net(torch.randn(3, 1, 64, 64))
    assert out.shape == (3, 32)


@pytest.mark.parametrize("in_channels,rep_dim", [(3, 256), (1, 128)])
def test_param_count(in_channels, rep_dim):
    net = CBAMResNet18(in_channels=in_channels, rep_dim=rep_dim)
    n = sum(p.numel() for p in net.parameters())
    expected = _expected_param_count(in_channels, rep_dim)
    print(f"CBAMResNet18(in_channels={in_channels}, rep_dim={rep_dim}): {n} parameters")
    assert n == expected
    if (in_channels, rep_dim) == (3, 256):
        assert n == 11_397_720


def test_bn_init(model):
    spatial, other = 0, 0
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.bias == 0), name
            if name.endswith("spatial_gate.bn"):
                assert torch.all(m.weight == 0), name
                assert m.momentum == 0.01 and m.eps == 1e-5
                spatial += 1
            else:
                assert torch.all(m.weight == 1), name
                other += 1
    assert spatial == 8  # one per BasicBlock
    assert other == 1 + 8 * 2 + 3  # stem, two per block, three shortcut BNs
    assert torch.all(model.fc.bias == 0)


def test_backward_finite_grads():
    torch.manual_seed(0)
    net = CBAMResNet18(rep_dim=16).train()
    out = net(torch.randn(2, 3, 64, 64))
    out.pow(2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_train_and_eval_modes(model):
    x = torch.randn(2, 3, 64, 64)
    model.train()
    with torch.no_grad():
        a = model(x)
    model.eval()
    with torch.no_grad():
        b = model(x)
    assert a.shape == b.shape == (2, 256)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()


def test_channels_last_matches_contiguous(model):
    model.eval()
    x = torch.randn(2, 3, 96, 96)
    x_cl = x.to(memory_format=torch.channels_last)
    assert not x_cl.is_contiguous()
    with torch.no_grad():
        ref = model(x)
        out_input_only = model(x_cl)
        model.to(memory_format=torch.channels_last)
        try:
            out_both = model(x_cl)
        finally:
            model.to(memory_format=torch.contiguous_format)
    assert torch.allclose(ref, out_input_only, rtol=1e-4, atol=1e-4)
    assert torch.allclose(ref, out_both, rtol=1e-4, atol=1e-4)


def test_rejects_bad_input(model):
    with pytest.raises(AssertionError, match="expects input of shape"):
        model(torch.randn(2, 1, 64, 64))
    with pytest.raises(AssertionError, match="expects input of shape"):
        model(torch.randn(3, 64, 64))


def test_keyword_only():
    with pytest.raises(TypeError):
        CBAMResNet18(3, 256)  # type: ignore[misc]
