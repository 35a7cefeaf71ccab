"""Network shapes, DCGAN rules, injected normalizations."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganexp.nets import AutoencoderDiscriminator, DCGANDiscriminator, DCGANGenerator
from ganexp.nets.dcgan import widths
from ganexp.nets.norms import AdaIN

SHAPES = [(28, 1), (32, 3), (64, 3), (128, 3)]


@pytest.mark.parametrize("res,ch", SHAPES)
@pytest.mark.parametrize("z_dim", [1, 2, 3, 10, 50, 100])
def test_generator_and_discriminator_shapes(res, ch, z_dim):
    g = DCGANGenerator(z_dim, res, ch, width=8)
    x = g(torch.rand(2, z_dim) * 2 - 1)
    assert x.shape == (2, ch, res, res)
    assert x.abs().max() <= 1.0  # tanh output
    assert DCGANDiscriminator(res, ch, width=8)(x).shape == (2,)


@pytest.mark.parametrize("res,ch", SHAPES)
def test_autoencoder_discriminator_reconstructs_shape(res, ch):
    x = torch.rand(2, ch, res, res) * 2 - 1
    assert AutoencoderDiscriminator(res, ch, width=8, h_dim=16)(x).shape == x.shape


def test_autoencoder_discriminator_uses_the_norm_it_is_given():
    # 28x28, width 8: encoder hidden map of 16 channels (not the input layer); decoder maps of 16 and 8
    def kinds(norm):
        ae = AutoencoderDiscriminator(28, 1, width=8, norm=norm, h_dim=4)
        return ([type(m).__name__ for m in ae.encoder.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))],
                [type(m).__name__ for m in ae.decoder.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))],
                sum(hasattr(m, "parametrizations") for m in ae.modules()))
    assert kinds("batch") == (["BatchNorm2d"], ["BatchNorm2d", "BatchNorm2d"], 0)  # no silent override
    assert kinds("layer") == (["GroupNorm"], ["GroupNorm", "GroupNorm"], 0)
    assert kinds("none") == ([], [], 0)
    assert kinds("spectral") == ([], [], 3)  # SN on the encoder's 3 convs only; the decoder gets none


@pytest.mark.parametrize("norm", ["batch", "layer", "instance", "none", "adain"])
def test_generator_norms(norm):
    g = DCGANGenerator(10, 32, 3, width=8, norm=norm)
    assert g(torch.randn(3, 10)).shape == (3, 3, 32, 32)
    n_adain = sum(isinstance(m, AdaIN) for m in g.modules())
    # AdaIN replaces every G norm but the input layer's (32x32: 3 hidden maps -> 2 AdaIN)
    assert n_adain == (2 if norm == "adain" else 0)


@pytest.mark.parametrize("norm", ["batch", "layer", "instance", "none", "spectral"])
def test_discriminator_norms(norm):
    d = DCGANDiscriminator(64, 3, width=8, norm=norm)
    assert d(torch.randn(3, 3, 64, 64)).shape == (3,)
    first = d.features[0]
    assert isinstance(first, nn.Conv2d) and isinstance(d.features[1], nn.LeakyReLU)  # no norm on the input layer
    n_sn = sum(hasattr(m, "parametrizations") for m in d.modules() if isinstance(m, nn.Conv2d))
    assert n_sn == (5 if norm == "spectral" else 0)  # 4 strided convs + the output conv


def test_dcgan_rules():
    g, d = DCGANGenerator(100, 64, 3), DCGANDiscriminator(64, 3)
    assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in list(g.modules()) + list(d.modules()))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 4  # all hidden maps, not the output
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3  # all but the input layer
    assert widths(28, 64) == [128, 64] and widths(64, 64) == [512, 256, 128, 64]


def test_unsupported_resolution_is_one_sentence():
    with pytest.raises(ValueError, match="resolution 48 is not supported"):
        DCGANGenerator(10, 48, 3)


def test_adain_closed_form():
    a = AdaIN(2, 3)
    with torch.no_grad():
        a.style.weight.zero_()
        a.style.bias.copy_(torch.tensor([2.0, 3.0, 0.5, -1.0]))  # scale (2, 3), bias (0.5, -1)
    x = torch.tensor([[[[1.0, 3.0]], [[0.0, 4.0]]]])  # (1, 2, 1, 2): per-channel mean 2 / 2, std 1 / 2
    out = a(x, torch.zeros(1, 3))
    expected = torch.tensor([[[[2 * -1 + 0.5, 2 * 1 + 0.5]], [[3 * -1 - 1, 3 * 1 - 1]]]])
    assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_adain_uses_the_latent_code():
    g = DCGANGenerator(4, 28, 1, width=8, norm="adain").eval()
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, AdaIN):
                nn.init.normal_(m.style.weight)
    z = torch.zeros(1, 4)
    assert not torch.equal(g(z), g(z + 0.5))


def test_spectral_norm_bounds_the_largest_singular_value():
    d = DCGANDiscriminator(32, 3, width=8, norm="spectral")
    for _ in range(400):  # one power iteration per training-mode forward
        d(torch.randn(1, 3, 32, 32))
    d.eval()
    for m in d.modules():
        if isinstance(m, nn.Conv2d):
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=5e-3)
