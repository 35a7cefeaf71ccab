"""Data files that exist but are wrong end in one sentence naming the file and what to do."""
import numpy as np
import pytest

from ganexp.data import ArraySet, DatasetError, FolderSet


def test_wrong_npz_files(tmp_path):
    np.savez(tmp_path / "float.npz", x_train=np.zeros((4, 8, 8, 3)))
    np.savez(tmp_path / "labels.npz", labels=np.arange(10))
    np.savez(tmp_path / "good.npz", x_train=np.zeros((4, 8, 8, 3), np.uint8))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:100])
    cases = {"float.npz": "holds float64 images; save them as uint8 (0-255)",
             "labels.npz": "has no image array (it has labels); store the images as x_train / x_test",
             "cut.npz": "is not a readable .npz file (BadZipFile); replace it with a fresh copy"}
    for name, message in cases.items():
        with pytest.raises(DatasetError) as err:
            ArraySet("npz", 32, 3, path=str(tmp_path / name)).images("train")
        assert str(err.value) == f"dataset 'npz': {tmp_path / name} {message}"
    assert ArraySet("npz", 32, 3, path=str(tmp_path / "good.npz")).images("train").shape == (4, 3, 32, 32)


def test_unreadable_image_in_a_folder(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DatasetError) as err:
        FolderSet("folder", 32, 3, folder=str(tmp_path)).images("train")
    assert str(err.value) == (f"dataset 'folder': {tmp_path / 'a.jpg'} is not a readable image "
                              f"(UnidentifiedImageError); remove or replace it")
