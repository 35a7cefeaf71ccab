"""Each loss equals its closed form on fixed inputs (SPEC's table, with the paper typos fixed)."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganexp.losses import began, dragan, gan_mm, gan_ns, gradient_penalty, hinge, lsgan, r3gan, wgan, wgan_gp

R = [0.5, 2.0, -1.0]  # D(x), raw logits
F = [-0.5, 0.25, 3.0]  # D(G(z))
sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
t = lambda xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731

CLOSED_FORMS = {
    # module: (D loss, G loss) written with the paper's sigma/log notation
    gan_mm: (-mean([math.log(sig(r)) for r in R]) - mean([math.log(1 - sig(f)) for f in F]),
             mean([math.log(1 - sig(f)) for f in F])),
    gan_ns: (-mean([math.log(sig(r)) for r in R]) - mean([math.log(1 - sig(f)) for f in F]),
             -mean([math.log(sig(f)) for f in F])),
    lsgan: (0.5 * mean([(r - 1) ** 2 for r in R]) + 0.5 * mean([f**2 for f in F]),
            0.5 * mean([(f - 1) ** 2 for f in F])),
    wgan: (mean(F) - mean(R), -mean(F)),
    hinge: (mean([max(0, 1 - r) for r in R]) + mean([max(0, 1 + f) for f in F]), -mean(F)),
}


@pytest.mark.parametrize("mod", list(CLOSED_FORMS), ids=lambda m: m.__name__.split(".")[-1])
def test_logit_losses_equal_closed_form(mod):
    d_exp, g_exp = CLOSED_FORMS[mod]
    assert_close(mod.d_loss(t(R), t(F)), torch.tensor(d_exp, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    assert_close(mod.g_loss(t(F)), torch.tensor(g_exp, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_exact_values_by_hand():
    # WGAN: (-0.5 + 0.25 + 3)/3 - (0.5 + 2 - 1)/3 = 2.75/3 - 1.5/3
    assert wgan.d_loss(t(R), t(F)).item() == pytest.approx(1.25 / 3, abs=1e-15)
    # hinge D: relu(0.5)+relu(-1)+relu(2) = 2.5 -> 2.5/3; relu(0.5)+relu(1.25)+relu(4) = 5.75 -> 5.75/3
    assert hinge.d_loss(t(R), t(F)).item() == pytest.approx(8.25 / 3, abs=1e-15)
    # LSGAN G: 0.5 * (2.25 + 0.5625 + 4) / 3
    assert lsgan.g_loss(t(F)).item() == pytest.approx(0.5 * 6.8125 / 3, abs=1e-15)
    # the saturating G loss is the negative of the NS loss's complement: log(1 - sigma(0)) = -log 2
    assert gan_mm.g_loss(torch.zeros(4)).item() == pytest.approx(-math.log(2), abs=1e-7)
    assert gan_ns.g_loss(torch.zeros(4)).item() == pytest.approx(math.log(2), abs=1e-7)


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.25, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


def test_gradient_penalty_of_linear_critic():
    d = Linear([2.0, 2.0, 1.0, 0.0])  # ||w|| = 3 -> (3 - 1)^2 = 4
    x = torch.randn(5, 1, 2, 2, dtype=torch.float64)
    assert gradient_penalty(d, x).item() == pytest.approx(4.0, abs=1e-12)


def test_wgan_gp_critic_loss_closed_form():
    d = Linear([0.0, 3.0, 4.0, 0.0])  # ||w|| = 5 -> penalty 16
    real = torch.randn(6, 1, 2, 2, dtype=torch.float64)
    fake = torch.randn(6, 1, 2, 2, dtype=torch.float64)
    loss, logs = wgan_gp.WGANGP(gp_weight=10.0).discriminator_loss(d, real, fake)
    expected = d(fake).mean() - d(real).mean() + 10.0 * 16.0
    assert_close(loss, expected)
    assert logs["gp"].item() == pytest.approx(16.0, abs=1e-12)


def test_wgan_gp_interpolates_between_real_and_fake():
    real, fake = torch.zeros(1000, 1, 1, 1), torch.ones(1000, 1, 1, 1)
    x_hat = wgan_gp.interpolate(real, fake)  # = 1 - eps, eps ~ U[0, 1] per sample
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    assert x_hat.mean().item() == pytest.approx(0.5, abs=0.05)


def test_dragan_penalty_closed_form():
    d = Linear([1.0, 0.0, 0.0, 0.0])  # ||w|| = 1 -> penalty 0; D loss is GAN-NS's
    real, fake = torch.randn(4, 1, 2, 2, dtype=torch.float64), torch.randn(4, 1, 2, 2, dtype=torch.float64)
    loss, logs = dragan.DRAGAN(gp_weight=10.0).discriminator_loss(d, real, fake)
    assert logs["gp"].item() == pytest.approx(0.0, abs=1e-12)
    assert_close(loss, gan_ns.d_loss(d(real), d(fake)))


def test_dragan_perturb_uses_the_population_std_of_the_whole_batch():
    real = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)  # population std 1 (the sample std would be sqrt 2)
    torch.manual_seed(0)
    u = torch.rand_like(real)
    torch.manual_seed(0)
    assert torch.equal(dragan.perturb(real, 0.5), real + 0.5 * 1.0 * u)  # x_p = x + c std(x) u


class Recording(nn.Module):
    """The linear critic above, keeping a copy of every input batch it is evaluated on."""

    def __init__(self, w):
        super().__init__()
        self.inner, self.inputs = Linear(w), []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.inner(x)


N_ALPHA = 4000  # samples; tolerances below are 5 standard errors of the uniform's moments at this N


def test_dragan_interpolation_has_one_uniform_alpha_per_sample():
    torch.manual_seed(1)
    real = torch.randn(N_ALPHA, 1, 2, 2, dtype=torch.float64)
    perturbed = real + 1 + torch.rand_like(real)  # x_p - x in [1, 2]: the ratio below is well defined
    ratio = (dragan.interpolate(real, perturbed) - real) / (perturbed - real)  # (N, 1, 2, 2), alpha per sample
    alpha = ratio.flatten(1)[:, 0]
    assert_close(ratio, alpha.view(-1, 1, 1, 1).expand_as(ratio), rtol=0, atol=1e-12)  # one alpha per sample
    assert alpha.min() >= 0 and alpha.max() <= 1
    # U[0, 1]: mean 1/2 (variance 1/12), variance 1/12 (its estimate has variance (1/80 - 1/144) / N)
    assert alpha.mean().item() == pytest.approx(0.5, abs=5 * math.sqrt(1 / 12 / N_ALPHA))
    assert alpha.var(correction=0).item() == pytest.approx(1 / 12, abs=5 * math.sqrt((1 / 80 - 1 / 144) / N_ALPHA))


def test_dragan_penalty_is_taken_between_real_data_and_its_perturbation():
    torch.manual_seed(2)
    # every sample [[-1, 1], [1, -1]]: batch mean 0, population std exactly 1, so x_hat - x = c alpha u
    real = torch.tensor([[-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64).expand(N_ALPHA, 1, 2, 2).contiguous()
    fake = torch.zeros_like(real)
    d = Recording([1.0, 0.0, 0.0, 0.0])
    dragan.DRAGAN(gp_weight=10.0, noise_scale=0.5).discriminator_loss(d, real, fake)
    assert len(d.inputs) == 3 and torch.equal(d.inputs[0], real) and torch.equal(d.inputs[1], fake)
    r = ((d.inputs[2] - real) / 0.5).flatten(1)  # alpha * u, (N, 4)
    assert r.min() >= 0 and r.max() <= 1
    # E[alpha u] = 1/4 (u alone would give 1/2); a sample's mean of 4 has variance 1/36
    assert r.mean().item() == pytest.approx(0.25, abs=5 * math.sqrt(1 / 36 / N_ALPHA))
    # a shared alpha correlates a sample's elements: Cov(alpha u_1, alpha u_2) = E[alpha^2] E[u]^2 - 1/16 = 1/48
    # (0 with independent noise); the product's variance is 41/11520 - (1/48)^2 = 1/320
    cov = ((r[:, 0] - 0.25) * (r[:, 1] - 0.25)).mean().item()
    assert cov == pytest.approx(1 / 48, abs=5 * math.sqrt(1 / 320 / N_ALPHA))


def test_wgan_clips_critic_weights():
    d = nn.Linear(4, 1)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[0.5, -0.5, 0.005, -0.02]]))
        d.bias.fill_(3.0)
    wgan.WGAN(clip=0.01).after_d_step(d)
    assert_close(d.weight, torch.tensor([[0.01, -0.01, 0.005, -0.01]]))
    assert_close(d.bias, torch.tensor([0.01]))


def test_began_k_update_and_clipping():
    k = began.update_k(torch.tensor(0.5), torch.tensor(0.2), torch.tensor(0.05), gamma=0.5, lambda_k=0.001)
    assert k.item() == pytest.approx(0.5 + 0.001 * (0.1 - 0.05), abs=1e-7)
    assert began.update_k(torch.tensor(0.9995), torch.tensor(1.0), torch.tensor(0.0), 0.5, 1.0).item() == 1.0
    assert began.update_k(torch.tensor(0.0005), torch.tensor(0.0), torch.tensor(1.0), 0.5, 1.0).item() == 0.0
    assert began.convergence(torch.tensor(0.2), torch.tensor(0.05), 0.5).item() == pytest.approx(0.25)


class ZeroAE(nn.Module):
    """AE(v) = 0, so L(v) = mean |v|."""

    def forward(self, v):
        return torch.zeros_like(v)


def test_began_losses_and_k_through_a_step():
    loss = began.BEGAN(gamma=0.5, lambda_k=0.001, k0=0.25)
    real, fake = torch.full((2, 1, 2, 2), 0.4), torch.full((2, 1, 2, 2), -0.1)
    d_loss, logs = loss.discriminator_loss(ZeroAE(), real, fake)
    assert d_loss.item() == pytest.approx(0.4 - 0.25 * 0.1)
    g_loss, g_logs = loss.generator_loss(ZeroAE(), fake)
    assert g_loss.item() == pytest.approx(0.1)
    logs.update(g_logs)  # the step's logs, as the training step passes them
    loss.after_g_step(logs)  # k = 0.25 + 0.001 * (0.5 * 0.4 - 0.1)
    assert loss.k.item() == pytest.approx(0.2501, abs=1e-7)
    assert logs["convergence"].item() == pytest.approx(0.4 + abs(0.2 - 0.1))
    restored = began.BEGAN()
    restored.load_state_dict(loss.state_dict())
    assert restored.k.item() == pytest.approx(0.2501, abs=1e-7)


class HalfAE(nn.Module):
    """AE(v) = v / 2, so L(v) = mean |v| / 2: a D that has changed since the critic step."""

    def forward(self, v):
        return v / 2


def test_began_k_takes_both_reconstruction_losses_from_the_same_d():
    loss = began.BEGAN(gamma=0.5, lambda_k=0.001, k0=0.25)
    real, fake = torch.full((2, 1, 2, 2), 0.4), torch.full((2, 1, 2, 2), -0.1)
    _, logs = loss.discriminator_loss(ZeroAE(), real, fake)  # D before its step: L(x) = 0.4, L(G(z)) = 0.1
    logs.update(loss.generator_loss(HalfAE(), fake)[1])  # D after its step: G's loss 0.05
    loss.after_g_step(logs)
    # k = 0.25 + 0.001 * (0.5 * 0.4 - 0.1); mixing the two Ds would give 0.25 + 0.001 * (0.2 - 0.05) = 0.25015
    assert loss.k.item() == pytest.approx(0.2501, abs=1e-7)  # float32
    assert logs["convergence"].item() == pytest.approx(0.4 + 0.1)


class HalfSum(nn.Module):
    """D(x) = sum(x) / 2 over C, H, W: its gradient norm is sqrt(C H W) / 2 at every point."""

    def forward(self, x):
        return x.sum(dim=(1, 2, 3)) / 2


def test_wgan_gp_drift_adds_eps_times_mean_squared_real_output():
    from ganexp.losses.wgan_gp import WGANGP

    real, fake = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    total, logs = WGANGP(gp_weight=10.0, drift=0.001).discriminator_loss(HalfSum(), real, fake)
    # D(real) = (2, 6), D(fake) = 0: wasserstein -4; gradient norm sqrt(4) / 2 = 1: penalty 0; drift (4 + 36) / 2
    assert total.item() == pytest.approx(-4.0 + 0.001 * 20.0)
    assert logs["gp"].item() == 0.0 and logs["d_loss"].item() == pytest.approx(-3.98)


def test_r3gan_losses_and_penalties_in_closed_form():
    """A linear D: grad_x D = w for every x, so R1 = R2 = ||w||^2 = 9 exactly; the relativistic terms pair real i
    with fake i: softplus(-(D(x_i) - D(G(z_i)))) for D, softplus(-(D(G(z_i)) - D(x_i))) for G."""
    d = Linear([2.0, 2.0, 1.0, 0.0])
    real, fake = (torch.randn(6, 1, 2, 2, dtype=torch.float64) for _ in range(2))
    loss_fn = r3gan.R3GAN(reg_gamma=0.3)
    loss, logs = loss_fn.discriminator_loss(d, real, fake)
    dr, df = d(real), d(fake)
    assert logs["r1"].item() == logs["r2"].item() == pytest.approx(9.0, abs=1e-12)
    assert_close(loss, torch.log1p(torch.exp(-(dr - df))).mean() + 0.3 / 2 * (9.0 + 9.0))
    g, g_logs = loss_fn.generator_loss(d, fake, real)
    assert_close(g, torch.log1p(torch.exp(-(df - dr))).mean())
    loss.backward()  # the penalties reach D's parameters: d(gamma/2 * 2 ||w||^2)/dw = 2 gamma w
    adv_grad = torch.autograd.grad(torch.log1p(torch.exp(-(d(real) - d(fake)))).mean(), d.w)[0]
    assert_close(d.w.grad, adv_grad + 2 * 0.3 * d.w.detach())
    with pytest.raises(ValueError, match="pairs G's fakes with reals"):
        loss_fn.generator_loss(d, fake)


def test_r3gan_penalties_sum_over_pixels_per_sample():
    """D(x) = sum_i c_i x_i^2 / 2 per sample: grad = c * x, so R1 = mean over samples of sum c^2 x^2."""
    c = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)

    class Quadratic(nn.Module):
        def forward(self, x):
            return (c * x.flatten(1) ** 2).sum(1) / 2

    x = torch.randn(5, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    want = (c ** 2 * x.detach().flatten(1) ** 2).sum(1)
    assert_close(r3gan.squared_gradient_norm(Quadratic()(x), x), want)


def test_r3gan_lazy_regularisation_scales_by_its_interval_and_gamma_follows_its_cosine():
    d = Linear([2.0, 2.0, 1.0, 0.0])
    real, fake = (torch.randn(4, 1, 2, 2, dtype=torch.float64) for _ in range(2))
    lazy = r3gan.R3GAN(reg_gamma=0.3, reg_every=4)
    totals = [lazy.discriminator_loss(d, real, fake) for _ in range(5)]
    adv = torch.log1p(torch.exp(-(d(real) - d(fake)))).mean()
    assert [("r1" in logs) for _, logs in totals] == [True, False, False, False, True]
    assert_close(totals[0][0], adv + 0.3 / 2 * 4 * 18.0)
    assert_close(totals[1][0], adv)
    sched = r3gan.R3GAN(reg_gamma=0.05, reg_gamma_end=0.005, reg_gamma_decay_kimg=0.008)  # 8 images: half-way after 4
    seen = [sched.discriminator_loss(d, real, fake)[1]["gamma"] for _ in range(4)]
    assert seen == pytest.approx([0.05, 0.005 + 0.045 * 0.5 * (1 + math.cos(math.pi / 2)), 0.005, 0.005])
    state = sched.state_dict()
    again = r3gan.R3GAN(reg_gamma=0.05, reg_gamma_end=0.005, reg_gamma_decay_kimg=0.008)
    again.load_state_dict(state)
    assert (again.critic_steps, again.images_seen, again.gamma_now()) == (4, 16, 0.005)
    with pytest.raises(ValueError, match="needs both loss.reg_gamma_end and loss.reg_gamma_decay_kimg"):
        r3gan.R3GAN(reg_gamma_end=0.005)
