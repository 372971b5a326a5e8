"""Datasets for continual learning, registered by name: each loads the chosen classes of one source.

A source returns a :class:`LabelledImages` pair (train, test) holding only the requested classes,
relabelled 0..C-1 in the order given. The two phases of a CL protocol name disjoint class sets (or
different sources), and a phase's trainer is only handed its own phase's data specification, so
the evaluation data cannot be read while tuning.

- ``glyphs``: the offline default. 40 classes of rendered characters (several fonts shipped with
  matplotlib, random affine transforms, noise), 32x32 grayscale, generated deterministically on
  first use and cached (``$HPOBENCH_DATA_DIR``, default ``~/.cache/hpobench-rl-cl``).
- ``digits``: scikit-learn's 8x8 digits (10 classes, shipped with the package); smoke tests only.
- ``cifar100``: torchvision's on-disk CIFAR-100 (``cifar-100-python``) under ``root``; downloaded
  there by torchvision when ``download: true`` and a network exists. The pickles are read directly
  (torchvision's reader insists on the full files' checksums, which a test fixture cannot match).
- ``imagefolder``: an ImageNet-100-style tree ``root/{train,val}/CLASS/*.jpg``, resized to
  ``image_size``; classes are folder names (sorted) or indices into them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import ProtocolError, UserError
from ...registry import Registry
from ..base import data_dir

GLYPH_CHARACTERS = "ABCDEFGHKLMNPRSTUWXY" + "0123456789" + "ΓΔΘΛΞΠΣΦΨΩ"
GLYPH_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
               "DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf")
GLYPH_VERSION = 1
GLYPH_SIZE = 32
GLYPH_TRAIN_PER_CLASS = 300
GLYPH_TEST_PER_CLASS = 100


@dataclass
class LabelledImages:
    """Images (N, C, H, W) as float32 in [0, 1] (or a lazy torch dataset) with integer ``targets``."""

    images: Any
    targets: list[int]

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a source before loading it."""

    channels: int
    image_size: int
    classes: int
    train_per_class: int

    @property
    def train_images(self) -> int:
        return self.classes * self.train_per_class


DatasetLoader = Callable[[dict[str, Any], Sequence[int]], tuple[LabelledImages, LabelledImages]]


@dataclass(frozen=True)
class DataSource:
    """A registered dataset: its facts, its loader, why it cannot be read here (None: it can; a
    source that reads no files is always available) and, for a source that can download itself
    (``download: true`` in its options), how."""

    info: Callable[[dict[str, Any]], DatasetInfo]
    load: DatasetLoader
    missing: Callable[[dict[str, Any]], str | None] = lambda options: None
    fetch: Callable[[dict[str, Any]], None] | None = None
    #: (training, evaluation) transforms of image tensors, built on first use; None: images as loaded.
    transforms: Callable[[], tuple[Any, Any]] | None = None


DATASETS: Registry[DataSource] = Registry("CL dataset", "hpobench_rl_cl.datasets")




def _select(images: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> LabelledImages:
    """Keep ``classes`` (in that order) and relabel them 0..C-1; images become float32 NCHW in [0, 1]."""
    import torch

    relabel = {c: i for i, c in enumerate(classes)}
    keep = np.isin(labels, list(classes))
    chosen = images[keep]
    if chosen.ndim == 3:
        chosen = chosen[:, None]
    tensor = torch.from_numpy(np.ascontiguousarray(chosen)).float().div_(255.0)
    return LabelledImages(tensor, [relabel[int(c)] for c in labels[keep]])


# glyphs ------------------------------------------------------------------------------------------
def _render_glyph(font: Any, character: str, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(canvas).text((32, 32), character, fill=255, font=font, anchor="mm")
    angle = rng.uniform(-20, 20)
    scale = rng.uniform(0.8, 1.15)
    shear = rng.uniform(-0.25, 0.25)
    dx, dy = rng.uniform(-4, 4, size=2)
    cos, sin = np.cos(np.radians(angle)) / scale, np.sin(np.radians(angle)) / scale
    # PIL's affine maps output pixels to input pixels, so this is the inverse transform about the centre.
    a, b, d, e = cos, sin + shear, -sin, cos
    c = 32 - a * 32 - b * 32 + dx
    f = 32 - d * 32 - e * 32 + dy
    warped = canvas.transform((64, 64), Image.AFFINE, (a, b, c, d, e, f), resample=Image.BILINEAR)
    small = np.asarray(warped.resize((GLYPH_SIZE, GLYPH_SIZE), Image.BILINEAR), dtype=np.float32)
    noisy = small * rng.uniform(0.6, 1.0) + rng.normal(0, 25, size=small.shape) + rng.uniform(0, 40)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def generate_glyphs() -> dict[str, np.ndarray]:
    """Render the whole glyph dataset; identical on every machine with the pinned matplotlib fonts."""
    import matplotlib
    from PIL import ImageFont

    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    arrays: dict[str, list] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    for label, character in enumerate(GLYPH_CHARACTERS):
        rng = np.random.default_rng([GLYPH_VERSION, label])
        fonts = [ImageFont.truetype(str(font_dir / name), size) for name in GLYPH_FONTS for size in (30, 36)]
        for split, count in (("train", GLYPH_TRAIN_PER_CLASS), ("test", GLYPH_TEST_PER_CLASS)):
            for _ in range(count):
                arrays[f"x_{split}"].append(_render_glyph(fonts[rng.integers(len(fonts))], character, rng))
                arrays[f"y_{split}"].append(label)
    return {k: np.stack(v) if k.startswith("x") else np.asarray(v, dtype=np.int64) for k, v in arrays.items()}


def glyph_arrays() -> dict[str, np.ndarray]:
    """The cached glyph dataset (rendered on first use; concurrent first uses each write atomically)."""
    path = data_dir() / f"glyphs-v{GLYPH_VERSION}.npz"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial.npz")
        np.savez_compressed(partial, **generate_glyphs())
        os.replace(partial, path)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _load_glyphs(options: dict[str, Any], classes: Sequence[int]) -> tuple[LabelledImages, LabelledImages]:
    data = glyph_arrays()
    return _select(data["x_train"], data["y_train"], classes), _select(data["x_test"], data["y_test"], classes)


DATASETS.add("glyphs", DataSource(
    lambda _: DatasetInfo(1, GLYPH_SIZE, len(GLYPH_CHARACTERS), GLYPH_TRAIN_PER_CLASS), _load_glyphs))


# digits ------------------------------------------------------------------------------------------
def _load_digits(options: dict[str, Any], classes: Sequence[int]) -> tuple[LabelledImages, LabelledImages]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    # A fixed, stratified-enough split: every fifth image is a test image.
    test = np.arange(len(images)) % 5 == 0
    return (_select(images[~test], digits.target[~test], classes),
            _select(images[test], digits.target[test], classes))


DATASETS.add("digits", DataSource(lambda _: DatasetInfo(1, 8, 10, 144), _load_digits))


# cifar100 ----------------------------------------------------------------------------------------
def _root(options: dict[str, Any], source: str) -> Path:
    root = options.get("root")
    if not root:
        raise ProtocolError(f"dataset {source} needs a 'root' folder")
    return Path(os.path.expandvars(str(root))).expanduser()


def read_cifar100_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of torchvision's on-disk CIFAR-100 (``root/cifar-100-python/{train,test}``, pickled
    dicts with ``data`` as N x 3072 uint8 rows and ``fine_labels``), as (N, 3, 32, 32) images and labels."""
    import pickle

    path = root / "cifar-100-python" / split
    if not path.is_file():
        raise ProtocolError(f"CIFAR-100 not found: no {path} (set download: true where a network exists)")
    with path.open("rb") as file:
        batch = pickle.load(file, encoding="latin1")
    return np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(batch["fine_labels"])


def _fetch_cifar100(options: dict[str, Any]) -> None:
    from torchvision.datasets import CIFAR100

    CIFAR100(str(_root(options, "cifar100")), train=True, download=True)


def _load_cifar100(options: dict[str, Any], classes: Sequence[int]) -> tuple[LabelledImages, LabelledImages]:
    root = _root(options, "cifar100")
    if options.get("download", False) and not (root / "cifar-100-python" / "train").is_file():
        _fetch_cifar100(options)
    return (_select(*read_cifar100_split(root, "train"), classes),
            _select(*read_cifar100_split(root, "test"), classes))


def _missing_cifar100(options: dict[str, Any]) -> str | None:
    root = _root(options, "cifar100")
    if (root / "cifar-100-python" / "train").is_file():
        return None
    return (f"no CIFAR-100 under {root} (looked for {root / 'cifar-100-python' / 'train'}): put torchvision's "
            "cifar-100-python folder there (or point the protocol's root at one), or set download: true where a "
            "network exists")


#: PyCIL's CIFAR-100 channel statistics (the CL paper's code base).
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)


def cifar100_transforms() -> tuple[Any, Any]:
    """The CL paper's CIFAR pipeline: random crop (padding 4) and horizontal flip in training only,
    per-channel normalization in both phases."""
    from torchvision import transforms

    normalize = transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD)
    return (transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), normalize]),
            normalize)


DATASETS.add("cifar100", DataSource(lambda _: DatasetInfo(3, 32, 100, 500), _load_cifar100, _missing_cifar100,
                                    _fetch_cifar100, cifar100_transforms))


# imagefolder -------------------------------------------------------------------------------------
def imagefolder_classes(options: dict[str, Any]) -> list[str]:
    train = _root(options, "imagefolder") / "train"
    if not train.is_dir():
        raise ProtocolError(f"imagefolder: {train} is not a folder (expected ROOT/train/CLASS/*.jpg and ROOT/val/...)")
    return sorted(p.name for p in train.iterdir() if p.is_dir())


def _load_imagefolder(options: dict[str, Any], classes: Sequence[int]) -> tuple[LabelledImages, LabelledImages]:
    from torch.utils.data import Subset
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    size = int(options.get("image_size", 64))
    transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    names = imagefolder_classes(options)
    wanted = [names[c] for c in classes]
    relabel = {name: i for i, name in enumerate(wanted)}
    loaded = []
    for split in ("train", "val"):
        folder = ImageFolder(str(_root(options, "imagefolder") / split), transform=transform)
        keep = [i for i, (_, c) in enumerate(folder.samples) if folder.classes[c] in relabel]
        targets = [relabel[folder.classes[folder.samples[i][1]]] for i in keep]
        images = Subset(folder, keep)
        loaded.append(LabelledImages(_ImagesOnly(images), targets))
    return loaded[0], loaded[1]


class _ImagesOnly:
    """ImageFolder items without their original labels (the relabelled targets live beside them)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index][0]


def _missing_imagefolder(options: dict[str, Any]) -> str | None:
    train = _root(options, "imagefolder") / "train"
    return None if train.is_dir() else f"no ImageFolder tree under {options.get('root')} (looked for {train})"


DATASETS.add("imagefolder", DataSource(
    # ImageNet-100: about 1,300 training images per class.
    lambda options: DatasetInfo(3, int(options.get("image_size", 64)), len(imagefolder_classes(options)), 1300),
    _load_imagefolder,
    _missing_imagefolder,
))


@dataclass(frozen=True)
class DataSpec:
    """One phase's data: a registered source, its options (``root``, ...) and the classes it uses."""

    source: str
    classes: tuple[int, ...]
    options: dict[str, Any]

    def info(self) -> DatasetInfo:
        full = DATASETS.get(self.source).info(self.options)
        return DatasetInfo(full.channels, full.image_size, len(self.classes), full.train_per_class)

    def load(self) -> tuple[LabelledImages, LabelledImages]:
        return DATASETS.get(self.source).load(self.options, self.classes)


def missing_data(spec: DataSpec) -> str | None:
    """Why a dataset cannot be read here without downloading it (None when it can)."""
    return DATASETS.get(spec.source).missing(spec.options)


def image_digests(data: LabelledImages) -> list[str]:
    """One digest per image of its 8-bit pixels (shape included): the same picture gives the same
    digest whatever file, folder name, link or source it came from (lossless formats)."""
    digests = []
    for index in range(len(data)):
        pixels = np.round(np.asarray(data.images[index], dtype=np.float32) * 255).astype(np.uint8)
        digests.append(hashlib.sha1(str(pixels.shape).encode() + pixels.tobytes()).hexdigest())
    return digests


def dataset_digest(train: LabelledImages, test: LabelledImages) -> str:
    """The digest of a phase's data as a trial sees it (images and labels, in order): recorded with
    every CL trial, since the glyphs are rendered on each machine by its fonts."""
    content = [image_digests(train), train.targets, image_digests(test), test.targets]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]


def shared_images(tuning: DataSpec, evaluation: DataSpec) -> tuple[int, str | None]:
    """How many images of the evaluation data also appear in the tuning data (train or test
    splits, compared by content), and one of them described."""
    seen = {d for split in tuning.load() for d in image_digests(split)}
    shared, example = 0, None
    for name, split in zip(("train", "test"), evaluation.load()):
        for index, digest in enumerate(image_digests(split)):
            if digest in seen:
                shared += 1
                example = example or f"{evaluation.source} {name} image {index} (class {split.targets[index]})"
    return shared, example


def ensure_data(spec: DataSpec) -> None:
    """Download a missing dataset whose options allow it; refuse, naming where it looked and how to
    provide it, one that is still missing (before any trial, not inside every one)."""
    missing = missing_data(spec)
    source = DATASETS.get(spec.source)
    if missing and spec.options.get("download", False) and source.fetch is not None:
        try:
            source.fetch(spec.options)
        except Exception as error:  # noqa: BLE001 - no network, a full disk: the user has to act either way
            raise UserError(f"{missing}; downloading it failed: {type(error).__name__}: {error}") from None
        missing = missing_data(spec)
    if missing:
        raise UserError(missing)
