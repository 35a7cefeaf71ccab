"""Progressive networks: ProGAN growing with fade-in, PS-GAN stage nets sharing names and shapes."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.testing import assert_close

from ganexp.nets import ProgressiveDiscriminator, ProgressiveGenerator

LADDERS = [(28, 1, [7, 14, 28]), (32, 3, [4, 8, 16, 32])]
Z = 6


def loud(net):
    """Redraw weights at unit gain: DCGAN's N(0, 0.02) init makes outputs ~1e-5, inside assert_close's atol."""
    with torch.no_grad():
        for p in net.parameters():
            nn.init.kaiming_normal_(p) if p.dim() > 1 else nn.init.normal_(p, 0.0, 0.5)
    return net.eval()


def nets(res, ch, norm="batch", **kw):
    g = ProgressiveGenerator(Z, res, ch, width=4, max_width=16, norm=norm, **kw)
    d = ProgressiveDiscriminator(res, ch, width=4, max_width=16, norm=norm, **kw)
    return loud(g), loud(d)


@pytest.mark.parametrize("res,ch,sizes", LADDERS)
def test_shapes_for_every_depth(res, ch, sizes):
    torch.manual_seed(0)
    g, d = nets(res, ch)
    z = torch.randn(2, Z)
    for depth, size in enumerate(sizes, start=1):
        for alpha in (0.5, 1.0):
            x = g(z, depth, alpha)
            assert x.shape == (2, ch, size, size)
            assert x.abs().max() <= 1.0
            assert d(x, depth, alpha).shape == (2,)
    assert g(z).shape == (2, ch, res, res) and d(g(z)).shape == (2,)  # depth defaults to all levels


@pytest.mark.parametrize("res,ch,sizes", LADDERS)
def test_generator_fade_in(res, ch, sizes):
    torch.manual_seed(0)
    g, _ = nets(res, ch)
    z = torch.randn(3, Z)
    for depth in range(2, len(sizes) + 1):
        low = F.interpolate(g(z, depth - 1), scale_factor=2, mode="nearest")
        high = g(z, depth)
        assert_close(g(z, depth, 0.0), low)
        assert_close(g(z, depth, 1.0), high)
        assert_close(g(z, depth, 0.25), 0.75 * low + 0.25 * high)


@pytest.mark.parametrize("res,ch,sizes", LADDERS)
def test_discriminator_fade_in(res, ch, sizes):
    torch.manual_seed(0)
    _, d = nets(res, ch)
    x = torch.rand(3, ch, res, res) * 2 - 1
    for depth in range(len(sizes), 1, -1):
        assert_close(d(x, depth, 0.0), d(F.avg_pool2d(x, 2), depth - 1))
        assert_close(d(x, depth, 1.0), d(x, depth))
        x = F.avg_pool2d(x, 2)


def test_discriminator_blends_inner_paths():
    torch.manual_seed(0)
    _, d = nets(28, 1)
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    seen = []
    handle = d.blocks[1].register_forward_pre_hook(lambda m, inp: seen.append(inp[0]))
    d(x, 3, 0.25)
    handle.remove()
    low = d.from_rgb[1](F.avg_pool2d(x, 2))
    high = d.blocks[2](d.from_rgb[2](x))
    assert_close(seen[0], 0.75 * low + 0.25 * high)


@pytest.mark.parametrize("norm", ["batch", "adain", "spectral"])
def test_stage_net_names_are_a_subset_of_the_full_net(norm):
    g_norm = "batch" if norm == "spectral" else norm
    d_norm = "batch" if norm == "adain" else norm
    for make, kind in ((ProgressiveGenerator, g_norm), (ProgressiveDiscriminator, d_norm)):
        args = (Z,) if make is ProgressiveGenerator else ()
        stage = make(*args, resolution=14, max_resolution=28, width=4, norm=kind).state_dict()
        full = make(*args, resolution=28, width=4, norm=kind).state_dict()
        assert set(stage) < set(full)
        assert {k: v.shape for k, v in stage.items()} == {k: full[k].shape for k in stage}
        extra = set(full) - set(stage)
        assert any(k.startswith("blocks.2.") for k in extra)
        assert any(k.startswith("to_rgb.2." if make is ProgressiveGenerator else "from_rgb.2.") for k in extra)
        assert not any(k.startswith(("blocks.0.", "blocks.1.", "to_rgb.0.", "from_rgb.1.")) for k in extra)


def test_base_level_stage_net():
    g = ProgressiveGenerator(Z, resolution=7, max_resolution=28, width=4).eval()
    d = ProgressiveDiscriminator(resolution=4, max_resolution=32, width=4).eval()
    assert g(torch.randn(2, Z)).shape == (2, 1, 7, 7)
    assert d(torch.randn(2, 1, 4, 4)).shape == (2,)
    assert len(g.blocks) == 1 and len(d.blocks) == 1


def test_channels_follow_the_ladder():
    g = ProgressiveGenerator(Z, 32, 3, width=4, max_width=16)
    assert [m.out_channels for m in g.to_rgb] == [3, 3, 3, 3]
    assert [m.in_channels for m in g.to_rgb] == [16, 16, 8, 4]  # min(4 * 2^(3-i), 16)


def test_spectral_norm_on_every_discriminator_conv():
    d = ProgressiveDiscriminator(28, 1, width=4, norm="spectral")
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6  # 3 from_rgb + 2 blocks + output
    assert all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert d(torch.randn(2, 1, 28, 28)).shape == (2,)
    plain = ProgressiveDiscriminator(28, 1, width=4, norm="batch")
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    assert all(m.bias is None for m in plain.blocks[1:].modules() if isinstance(m, nn.Conv2d))
    assert all(isinstance(m[1], nn.LeakyReLU) for m in plain.from_rgb)  # no norm on D's input layer


def test_bad_arguments_raise():
    g, d = nets(28, 1)
    z, x = torch.randn(2, Z), torch.randn(2, 1, 28, 28)
    for bad in (0, 4, -1):
        with pytest.raises(ValueError, match="depth"):
            g(z, bad)
        with pytest.raises(ValueError, match="depth"):
            d(x, bad)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            g(z, 2, bad)
        with pytest.raises(ValueError, match="alpha"):
            d(x, 3, bad)
    for res, max_res in ((21, 28), (56, 28), (16, 28), (12, 32), (10, None)):
        with pytest.raises(ValueError, match="resolution"):
            ProgressiveGenerator(Z, res, max_resolution=max_res)
        with pytest.raises(ValueError, match="resolution"):
            ProgressiveDiscriminator(res, max_resolution=max_res)
    with pytest.raises(ValueError, match="z_dim"):
        ProgressiveGenerator(0)


# --- Karras et al. 2018's pieces (ProGAN as its paper defines it) ---------------------------------------------


def test_pixel_norm_divides_each_pixel_by_its_rms_over_channels():
    from ganexp.nets.norms import PixelNorm

    x = torch.tensor([3.0, 4.0, 0.0, -2.0]).view(1, 2, 2, 1)  # pixel 0: (3, 0), pixel 1: (4, -2)
    want = torch.tensor([3 / (4.5 + 1e-8) ** 0.5, 4 / (10 + 1e-8) ** 0.5, 0.0, -2 / (10 + 1e-8) ** 0.5]).view(1, 2, 2, 1)
    assert_close(PixelNorm()(x), want)


def test_minibatch_stddev_appends_the_mean_stddev_over_groups_of_four():
    from ganexp.nets.progressive import minibatch_stddev

    # 8 images of 1 channel, 1x2 pixels; groups (Karras's reshape to [4, 2, ...]): images {0, 2, 4, 6}, {1, 3, 5, 7}
    x = torch.tensor([[0.0, 1.0], [5.0, 5.0], [2.0, 1.0], [5.0, 5.0], [4.0, 1.0], [5.0, 5.0], [6.0, 1.0], [5.0, 9.0]])
    x = x.view(8, 1, 1, 2)
    out = minibatch_stddev(x)
    assert out.shape == (8, 2, 1, 2) and torch.equal(out[:, :1], x)
    # group 0: pixel 0 holds 0, 2, 4, 6 (population var 5), pixel 1 holds 1s (var 0)
    g0 = ((5 + 1e-8) ** 0.5 + (0 + 1e-8) ** 0.5) / 2
    # group 1: pixel 0 holds 5s (var 0), pixel 1 holds 5, 5, 5, 9 (mean 6, var (1 + 1 + 1 + 9) / 4 = 3)
    g1 = ((0 + 1e-8) ** 0.5 + (3 + 1e-8) ** 0.5) / 2
    assert_close(out[:, 1], torch.tensor([g0, g1] * 4).view(8, 1, 1).expand(8, 1, 2))
    assert minibatch_stddev(torch.ones(3, 2, 1, 1)).shape == (3, 3, 1, 1)  # B = 3: groups of gcd(4, 3) = 1


def test_equalized_lr_scales_unit_weights_by_he_constant():
    g = ProgressiveGenerator(Z, 28, 1, width=4, max_width=16, norm="pixel", equalized_lr=True)
    d = ProgressiveDiscriminator(28, 1, width=4, max_width=16, norm="none", equalized_lr=True, minibatch_stddev=True)
    first, conv = g.blocks[0].conv, g.blocks[1].conv  # ConvTranspose2d(6, 16, 7), Conv2d(16, 8, 3)
    for m, fan_in, gain in [(first, Z * 49, 2 ** 0.5), (conv, 16 * 9, 2 ** 0.5), (g.to_rgb[2], 4, 1.0),
                            (d.output, 17 * 49, 1.0), (d.from_rgb[2][0], 1, 2 ** 0.5)]:
        stored = m.parametrizations.weight.original
        assert torch.equal(m.weight, stored * (gain / fan_in ** 0.5))
        assert not m.bias.any()
    stored = torch.cat([p.flatten() for n, p in g.named_parameters() if n.endswith("original")])
    assert abs(stored.std().item() - 1.0) < 0.05  # N(0, 1) draws (about 5,000 of them)
    assert d(torch.randn(8, 1, 28, 28)).shape == (8,)
    assert g.blocks[1].karras and not nets(28, 1)[0].blocks[1].karras  # LeakyReLU then pixel norm; else norm, ReLU


def test_karras_generator_block_is_conv_leaky_relu_pixel_norm():
    g = ProgressiveGenerator(Z, 28, 1, width=4, max_width=16, norm="pixel")
    z = torch.randn(5, Z)
    zn = z / (z.pow(2).mean(1, keepdim=True) + 1e-8).sqrt()  # z is pixel-normalized too
    h = F.leaky_relu(g.blocks[0].conv(zn[:, :, None, None]), 0.2)
    h = h / (h.pow(2).mean(1, keepdim=True) + 1e-8).sqrt()  # (5, 16, 7, 7)
    assert_close(g(z, depth=1), g.to_rgb[0](h).tanh())
