"""Resource limits applied to every decode, checked against the header before decoding."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageLimits"]


@dataclass(frozen=True)
class ImageLimits:
    """Bounds that keep one request's memory predictable.

    ``max_pixels`` bounds one frame (rows x columns); ``max_decoded_bytes`` bounds the
    whole declared pixel payload (all frames, all samples) so a small compressed file
    cannot claim gigabytes; ``max_frames`` bounds multi-frame objects.
    """

    max_input_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_frames: int = 512
    max_decoded_bytes: int = 1024 * 1024 * 1024
