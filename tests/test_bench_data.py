"""The data bench's own images: written once, reused, and the only files it ever removes from its folder."""
from ganexp.bench.data import foreign, write_jpegs


def test_another_count_replaces_only_its_own_images(tmp_path):
    """Another --images count rewrites the bench's NNNNNN.jpg files and touches nothing else; the same count
    reuses them."""
    (tmp_path / "notes.txt").write_text("keep me")
    for i in range(1, 4):
        (tmp_path / f"{i:06d}.jpg").write_bytes(b"old")
    write_jpegs(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000001.jpg", "000002.jpg", "notes.txt"]
    assert (tmp_path / "000001.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG the bench wrote, not the old bytes
    written = (tmp_path / "000001.jpg").stat().st_mtime_ns
    assert write_jpegs(tmp_path, 2) == 0.0 and (tmp_path / "000001.jpg").stat().st_mtime_ns == written


def test_only_the_bench_images_are_its_own(tmp_path):
    """What parse_args refuses a --folder for: any name but NNNNNN.jpg, and a folder of that name."""
    for name in ("000001.jpg", "notes.txt", "photo.jpg", "0000001.jpg"):
        (tmp_path / name).write_text("x")
    (tmp_path / "000002.jpg").mkdir()
    assert foreign(tmp_path) == ["0000001.jpg", "000002.jpg", "notes.txt", "photo.jpg"]
    assert foreign(tmp_path / "not-made-yet") == []
