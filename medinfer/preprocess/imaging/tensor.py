"""Resize and normalize a decoded image to the tensor a model declares.

A model declares its image input as a Triton ``TensorSpec`` (name, datatype, dims):
dims of length 2 are H x W, length 3 are C x H x W (C = 1 or 3; channels-last
H x W x C is accepted when the last dim is 1 or 3 and the first is not). The batch
dimension is added when the model batches. Values are [0, 1] after the VOI
transform; ``mean``/``std`` apply per channel after that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from medinfer.common.errors import ValidationFailed

__all__ = ["ImageTarget", "to_tensor", "resize_unit"]

_NUMPY = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "UINT8": np.uint8}


@dataclass(frozen=True)
class ImageTarget:
    """The input tensor a model expects, as declared in its Triton config."""

    name: str
    datatype: str
    dims: tuple[int, ...]
    batched: bool = True
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.datatype not in _NUMPY:
            raise ValidationFailed("image models need FP32, FP16, FP64 or UINT8 input", field="datatype")
        if len(self.dims) not in (2, 3) or any(d <= 0 for d in self.dims):
            raise ValidationFailed("image input dims must be H x W or C x H x W, all fixed", field="dims")
        if len(self.dims) == 3 and self.channels not in (1, 3):
            raise ValidationFailed("image input must have 1 or 3 channels", field="dims")

    @property
    def channels_last(self) -> bool:
        return len(self.dims) == 3 and self.dims[0] not in (1, 3) and self.dims[2] in (1, 3)

    @property
    def channels(self) -> int:
        if len(self.dims) == 2:
            return 1
        return self.dims[2] if self.channels_last else self.dims[0]

    @property
    def height_width(self) -> tuple[int, int]:
        if len(self.dims) == 2:
            return self.dims[0], self.dims[1]
        return (self.dims[0], self.dims[1]) if self.channels_last else (self.dims[1], self.dims[2])

    @property
    def shape(self) -> tuple[int, ...]:
        return ((1,) if self.batched else ()) + tuple(self.dims)


def _box_reduce(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Average k x k blocks while the result stays >= 2x the target: a cheap, alias-free
    first stage for large reductions (a 2048 x 2048 radiograph to 64 x 64)."""
    k = min(plane.shape[0] // (2 * height), plane.shape[1] // (2 * width))
    if k < 2:
        return plane
    h, w = (plane.shape[0] // k) * k, (plane.shape[1] // k) * k
    return plane[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3), dtype=np.float32)


def resize_unit(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (antialiased on reduction) of an H x W [x 3] float32 image."""
    def one(plane: np.ndarray) -> np.ndarray:
        if plane.shape == (height, width):
            return plane.astype(np.float32, copy=False)
        plane = _box_reduce(plane, height, width)
        pil = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
        return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)

    if img.ndim == 2:
        return one(img)
    return np.stack([one(img[..., c]) for c in range(img.shape[2])], axis=-1)


def _channels(img: np.ndarray, channels: int) -> np.ndarray:
    """H x W [x 3] -> C x H x W with the requested channel count."""
    if img.ndim == 2:
        chw = img[None]
    else:
        chw = np.moveaxis(img, -1, 0)
    if chw.shape[0] == channels:
        return chw
    if channels == 3:
        return np.repeat(chw, 3, axis=0)
    # ITU-R BT.601 luma, the weights Pillow uses for RGB -> L.
    return (0.299 * chw[0] + 0.587 * chw[1] + 0.114 * chw[2])[None].astype(np.float32)


def to_tensor(img: np.ndarray, target: ImageTarget) -> np.ndarray:
    height, width = target.height_width
    chw = _channels(resize_unit(img, height, width), target.channels)
    if target.mean or target.std:
        mean = np.asarray(target.mean or (0.0,) * target.channels, dtype=np.float32)[:, None, None]
        std = np.asarray(target.std or (1.0,) * target.channels, dtype=np.float32)[:, None, None]
        chw = (chw - mean) / std
    if target.datatype == "UINT8":
        chw = np.clip(np.rint(chw * 255.0), 0, 255)
    out = chw.astype(_NUMPY[target.datatype])
    if len(target.dims) == 2:
        out = out[0]
    elif target.channels_last:
        out = np.moveaxis(out, 0, -1)
    if target.batched:
        out = out[None]
    return np.ascontiguousarray(out)
