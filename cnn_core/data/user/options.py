"""How imported images are stored: the square side, the fit, the colour and the
validation share, checked before anything is written."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnn_core.base.errors import UserError

SIDES = (32, 48, 64, 96, 128, 160, 224)  # px; 28 is left out: it means "MNIST digit" elsewhere
FITS = ("stretch", "pad")  # resize to a square, or keep the aspect and pad with black
COLOURS = ("rgb", "grey")
VALIDATION_RANGE = (0.05, 0.5)
MIN_PER_CLASS = 5  # images a class needs at least, whatever the split


@dataclass(frozen=True)
class ImageOptions:
    """How imported images are stored: square side, fit, colour, validation share."""

    side: int = 128  # px, one of SIDES
    fit: str = "stretch"  # one of FITS
    colour: str = "rgb"  # one of COLOURS
    validation: float = 0.16  # default validation share of runs; also the test
    # share held out when the dataset has no labelled test folder

    @property
    def shape(self) -> tuple[int, int, int]:
        """(h, w, c) of the stored images."""
        return (self.side, self.side, 3 if self.colour == "rgb" else 1)

    def check(self) -> None:
        """Raises UserError naming the bad setting and its allowed values."""
        if self.side not in SIDES:
            raise UserError(f"image size must be one of {SIDES}. Received: {self.side!r}")
        if self.fit not in FITS:
            raise UserError(f"fit must be one of {', '.join(FITS)}. Received: {self.fit!r}")
        if self.colour not in COLOURS:
            raise UserError(
                f"colour must be one of {', '.join(COLOURS)}. Received: {self.colour!r}"
            )
        low, high = VALIDATION_RANGE
        if not isinstance(self.validation, float | int) or not low <= self.validation <= high:
            raise UserError(
                f"validation share must be between {low:g} and {high:g}. "
                f"Received: {self.validation!r}"
            )


def needed_per_class(validation: float) -> int:
    """Images a class needs so a stratified split leaves it in training and validation."""
    return max(MIN_PER_CLASS, math.ceil(2 / validation))
