"""restore makes the config's mount points inside the rootfs (ops/restore.make_in_root):
symlinks in the rootfs are followed inside it, never out of it, whatever they say."""

import os

import pytest

from pyrunc.ops.restore import make_in_root


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "abs").symlink_to("/")                      # absolute: the rootfs's own /
    (root / "up").symlink_to("../../../../../..")       # relative, climbing past the root
    (root / "out").symlink_to(str(outside))            # absolute, naming a host path
    (root / "loop").symlink_to("loop")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    yield root, outside, fd
    os.close(fd)


def test_plain_paths(rootfs):
    root, _, fd = rootfs
    make_in_root(fd, "/etc/resolv.conf", file=True)
    make_in_root(fd, "/proc")
    assert (root / "etc" / "resolv.conf").is_file() and (root / "proc").is_dir()
    make_in_root(fd, "/etc/resolv.conf", file=True)  # what exists stays


@pytest.mark.parametrize("path,lands", [
    ("/abs/etc/hosts", "etc/hosts"),
    ("/up/etc/hostname", "etc/hostname"),
    ("/../../x/y", "x/y"),
    ("/out/z", "tmp-outside-name/z"),
])
def test_symlinks_stay_inside(rootfs, path, lands):
    root, outside, fd = rootfs
    make_in_root(fd, path, file=True)
    if lands.startswith("tmp-outside-name"):
        # the host path the link names is resolved under the rootfs instead
        lands = str(outside).lstrip("/") + lands[len("tmp-outside-name"):]
    assert (root / lands).is_file(), sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert not os.listdir(outside)


def test_loops_and_files_in_the_way(rootfs):
    root, _, fd = rootfs
    with pytest.raises(OSError):
        make_in_root(fd, "/loop/x")
    (root / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        make_in_root(fd, "/file/x")
