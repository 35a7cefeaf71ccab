"""Study C's update rules: Algorithm 2's decision table (all K = 2 cases and its K-generalization)
and Algorithm 1's weight mixing."""
import itertools

import pytest
import torch
from torch import nn

from ganexp.systems.multi_generator import BRANCHES, Decision, algorithm2, algorithm2_masks, verdicts
from ganexp.systems.stepwise import mix_weights


@pytest.mark.parametrize("real,fakes,want", [
    (True, [True, False], Decision(True, (1,), "fooled")),     # G1 fooled D: update G2 and D
    (False, [True, False], Decision(True, (1,), "fooled")),
    (True, [False, True], Decision(True, (0,), "fooled")),     # only G2 fooled D: update G1 and D
    (True, [True, True], Decision(True, (1,), "fooled")),      # both fooled: the first rule wins
    (True, [False, False], Decision(False, (0, 1), "only_real")),  # both G on their averaged loss, NOT D
    (False, [False, False], Decision(False, (), "all_fake")),  # nothing judged real: nothing updated
])
def test_algorithm2_at_k2_as_printed(real, fakes, want):
    assert algorithm2(real, fakes) == want


def test_algorithm2_always_ablation_updates_d_every_step():
    assert algorithm2(True, [False, False], "always") == Decision(True, (0, 1), "only_real")
    assert algorithm2(False, [False, False], "always") == Decision(True, (0, 1), "all_fake")
    assert algorithm2(True, [False, True], "always") == Decision(True, (0,), "fooled")
    with pytest.raises(ValueError, match=r"system.d_update must be one of gated, always \(or paper"):
        algorithm2(True, [False, True], "sometimes")
    assert algorithm2(True, [False, False], "paper") == algorithm2(True, [False, False], "gated")  # the old name


def test_algorithm2_for_any_k():
    for real, fake in [(True, False), (True, True), (False, True), (False, False)]:  # K = 1: the plain step
        assert algorithm2(real, [fake]) == Decision(True, (0,), "single")
    assert algorithm2(True, [False, True, True]) == Decision(True, (0, 2), "fooled")
    assert algorithm2(True, [False, False, False]) == Decision(False, (0, 1, 2), "only_real")
    assert algorithm2(False, [False, False, False]) == Decision(False, (), "all_fake")
    with pytest.raises(ValueError):
        algorithm2(True, [])


@pytest.mark.parametrize("d_update", ["gated", "always"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_algorithm2_masks_on_the_device_are_the_table(k, d_update):
    """Every verdict of x and K batches: the device masks say what the host table says."""
    for verdicts in itertools.product([False, True], repeat=k + 1):
        scores = torch.tensor([0.3 if v else -0.3 for v in verdicts])
        want = algorithm2(verdicts[0], list(verdicts[1:]), d_update)
        d_mask, g_mask, branch = algorithm2_masks(scores, d_update)
        assert d_mask.item() == float(want.update_d)
        assert g_mask.tolist() == [float(i in want.generators) for i in range(k)]
        assert branch.tolist() == [float(b == want.branch) for b in BRANCHES]
    assert algorithm2_masks(torch.zeros(3))[2].tolist() == [0, 0, 1, 0]  # a score of exactly 0 is not "real"


RELATIVE = [  # scores [x, G_0, G_1] -> (D's mask, generators' mask, branch) at K = 2, gated / always
    ([0.3, -0.1, 0.2], (0.0, [1.0, 1.0], "only_real"), (1.0, [1.0, 1.0], "only_real")),
    ([-0.4, -0.1, -0.2], (1.0, [0.0, 1.0], "fooled"), (1.0, [0.0, 1.0], "fooled")),  # all below 0: G_0 highest
    ([0.1, 0.2, 0.3], (1.0, [1.0, 0.0], "fooled"), (1.0, [1.0, 0.0], "fooled")),
    ([0.2, 0.2, -0.3], (0.0, [1.0, 1.0], "only_real"), (1.0, [1.0, 1.0], "only_real")),  # a tie goes to x
]


@pytest.mark.parametrize("scores,gated,always", RELATIVE)
def test_relative_judge_names_exactly_one_input_real(scores, gated, always):
    for d_update, (d, g, branch) in (("gated", gated), ("always", always)):
        d_mask, g_mask, onehot = algorithm2_masks(torch.tensor(scores), d_update, "relative")
        assert (d_mask.item(), g_mask.tolist(), BRANCHES[int(onehot.argmax())]) == (d, g, branch)


def test_relative_judge_never_takes_the_nothing_real_branch():
    """Every ordering of three scores, signs included: under `relative` one input is real, so the branch is
    never all_fake (under `threshold` the all-negative scores are)."""
    for perm in itertools.permutations([-0.5, -0.2, -0.1]):
        for judge, want in (("relative", 0.0), ("threshold", 1.0)):
            branch = algorithm2_masks(torch.tensor(perm), "gated", judge)[2]
            assert branch[BRANCHES.index("all_fake")].item() == want, (perm, judge)


def test_relative_vote_counts_images():
    """Per image the highest of x_i, G_0(z_i), G_1(z_i) is real; the input real for the most images wins (x on a
    tie): G_1 wins 3 of 5 images although x has the highest batch mean."""
    per_sample = torch.tensor([[9.0, 9.0, -1.0, -1.0, -1.0],   # x
                               [0.0, 0.0, 0.0, 0.0, 0.0],      # G_0
                               [1.0, 1.0, 1.0, 1.0, 1.0]])     # G_1
    scores = per_sample.mean(1)
    assert verdicts(scores, "relative").tolist() == [True, False, False]
    assert verdicts(scores, "relative_vote", per_sample).tolist() == [False, False, True]
    tie = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])  # x and G_0 one image each
    assert verdicts(tie.mean(1), "relative_vote", tie).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="system.judge must be one of threshold, relative, relative_vote"):
        verdicts(scores, "majority")


def test_each_loss_judges_a_batch_real_by_its_own_rule():
    from ganexp.losses.gan_ns import GANNS
    from ganexp.losses.hinge import Hinge
    from ganexp.losses.lsgan import LSGAN

    logits = torch.tensor([3.0, -1.0])  # mean sigma = (0.9526 + 0.2689) / 2 = 0.6107 > 0.5, mean logit 1 > 0
    torch.testing.assert_close(GANNS().judge(logits), torch.sigmoid(logits).mean() - 0.5)
    assert GANNS().judge(torch.tensor([-3.0, 1.0])) < 0  # mean sigma 0.3893
    assert Hinge().judge(torch.tensor([0.5, -0.4])) > 0 and not Hinge().judge(torch.tensor([0.0, 0.0])) > 0
    torch.testing.assert_close(LSGAN().judge(torch.tensor([0.25, 0.5])), torch.tensor(-0.125))  # mean 0.375 < 0.5
    from ganexp.losses.began import BEGAN
    with pytest.raises(ValueError, match="does not classify"):
        BEGAN().judge(logits)


class Old(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Linear(3, 1)
        self.bn = nn.BatchNorm1d(3)


class New(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 3)      # same name and shape: mixed
        self.b = nn.Linear(3, 2)      # same name, other shape: kept
        self.c = nn.Linear(2, 2)      # new name: kept
        self.bn = nn.BatchNorm1d(3)


def test_mix_weights_matching_names_get_09_old_01_new():
    torch.manual_seed(0)
    old, new = Old(), New()
    old.bn.num_batches_tracked.fill_(7)
    before = {k: v.clone() for k, v in new.state_dict().items()}
    mixed = mix_weights(old, new, alpha=0.1)
    assert sorted(mixed) == ["a.bias", "a.weight", "bn.bias", "bn.num_batches_tracked", "bn.running_mean",
                             "bn.running_var", "bn.weight"]
    for name in ("a.weight", "a.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"):
        torch.testing.assert_close(new.state_dict()[name], 0.9 * old.state_dict()[name] + 0.1 * before[name],
                                   rtol=0, atol=1e-7)
    for name in ("b.weight", "b.bias", "c.weight", "c.bias"):
        assert torch.equal(new.state_dict()[name], before[name])
    assert int(new.bn.num_batches_tracked) == 7
    with pytest.raises(ValueError):
        mix_weights(old, new, alpha=1.5)


def test_relative_judge_at_k1_and_k3_as_documented():
    """K = 1: the plain step whatever the scores. K = 3: the highest of x, G_0, G_1, G_2 is real; G_1 highest ->
    "fooled" by G_1: D (gated) and every generator but G_1; x highest -> only_real, all three generators."""
    for scores in ([0.4, 0.1], [-0.4, 0.1]):
        d, g, branch = algorithm2_masks(torch.tensor(scores), "gated", "relative")
        assert (d.item(), g.tolist(), BRANCHES[int(branch.argmax())]) == (1.0, [1.0], "single")
    d, g, branch = algorithm2_masks(torch.tensor([0.1, 0.2, 0.5, 0.3]), "gated", "relative")
    assert (d.item(), g.tolist(), BRANCHES[int(branch.argmax())]) == (1.0, [1.0, 0.0, 1.0], "fooled")
    d, g, branch = algorithm2_masks(torch.tensor([0.6, 0.2, 0.5, 0.3]), "gated", "relative")
    assert (d.item(), g.tolist(), BRANCHES[int(branch.argmax())]) == (0.0, [1.0, 1.0, 1.0], "only_real")
