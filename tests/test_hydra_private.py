"""The one piece of Hydra's private code ganexp still builds on, pinned: the grid sweeper subclasses Hydra's
BasicSweeper (hydra._internal.core_plugins.basic_sweeper, checked against hydra-core 1.3.8). A Hydra release that
changes it fails here first, naming what to re-check. ganexp's own copy of Hydra's folder naming
(preflight.overrides_dirname) is held equal to the private function it replaced."""
import hashlib
import inspect

import hydra
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from ganexp.preflight import overrides_dirname

# sha256 of inspect.getsource(BasicSweeper) under hydra-core 1.3.8: GridSweeper uses its setup() (the launcher),
# split_arguments() (the cartesian product of the sweep), params and max_batch_size
PINNED = "5aab9613b1ccfbd31df4a8fc1b1e583311508136819928effb12b2560eda2b69"


def test_the_basic_sweeper_is_the_one_the_grid_sweeper_was_checked_against():
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    digest = hashlib.sha256(inspect.getsource(BasicSweeper).encode()).hexdigest()
    assert digest == PINNED, (
        f"hydra-core {hydra.__version__}: its BasicSweeper changed; re-check hydra_plugins/ganexp_sweeper/grid_sweeper.py "
        "(setup, split_arguments, params, max_batch_size, launcher.launch), then pin the new digest here")


@pytest.mark.parametrize("lines", [["z_dim=1", "loss=lsgan", "seed=0"], ["model.equalized_lr=True", "ema=progan"],
                                   ["system.stage_epochs=[2.5,5]", "sweep=x", "optim.betas=[0.5,0.9]"]])
def test_folder_names_equal_hydras_own(lines):
    from hydra._internal.config_loader_impl import get_overrides_dirname

    parsed = OverridesParser.create().parse_overrides(lines)
    for exclude, item_sep, kv_sep in ((["sweep", "seed"], ",", "="), ([], "/", ":")):
        assert overrides_dirname(parsed, exclude, item_sep, kv_sep) == get_overrides_dirname(parsed, exclude, item_sep,
                                                                                             kv_sep)
