"""Latent interpolation (closed form) and the picture-strip command on a trained run."""
import math

import torch
from PIL import Image
from torch.testing import assert_close

from ganexp import latent
from ganexp.train import run
from conftest import FAST


def test_lerp_and_slerp_closed_form():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.tensor([0.0, 0.5, 1.0])
    assert_close(latent.lerp(z0, z1, t), torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]))
    h = math.sqrt(0.5)  # the great-circle midpoint of two orthogonal unit vectors
    assert_close(latent.slerp(z0, z1, t), torch.tensor([[1.0, 0.0], [h, h], [0.0, 1.0]]))
    assert_close(latent.slerp(z0, z0, t), z0.expand(3, 2))  # degenerate pair: the point itself


def test_strips_from_a_trained_run(compose, tmp_path):
    run(compose(FAST + ["z_dim=6", "trainer.max_steps=2", "trainer.num_eval_samples=64"]), tmp_path, "r")
    assert latent.main(["interpolate", str(tmp_path), "--steps", "5", "--pairs", "2"]) == 0
    with Image.open(tmp_path / "latent_interpolate.png") as im:  # 4 rows (lerp, slerp per pair) x 5
        assert im.size == (5 * 30 + 2, 4 * 30 + 2)
    assert latent.main(["arithmetic", str(tmp_path), "--a", "1,2", "--b", "3", "--c", "4,5,6"]) == 0
    with Image.open(tmp_path / "latent_arithmetic.png") as im:  # mean a, mean b, mean c, a - b + c
        assert im.size == (4 * 30 + 2, 30 + 2)
    codes = latent.eval_codes({"z_dim": 6, "latent": "uniform", "trainer": {"num_eval_samples": 64}})
    assert codes.shape == (64, 6)
    assert latent.main(["arithmetic", str(tmp_path), "--a", "99"]) == 2
