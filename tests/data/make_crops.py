"""Writes the crops under tests/data/ once (they are committed; CI has no extra fonts).

    python tests/data/make_crops.py

Every crop comes from the EVALUATION sources of edgedigits.synth / edgedigits.glyphs (evaluation
font files and generators, never trained on), seed 0, the first image of each kind - not picked
by how the model reads it. Needs Pillow and the fonts of edgedigits.glyphs.FONTS.

- nondigits/<script>_<style>.png: a letter of each script, printed and handwriting-looking;
- nondigits/tick.png, box.png, cross.png, arrow.png, partial_digit.png;
- stretched_1_<k>.png: a '1' in an evaluation handwriting font, stretched to fill a 16x16 box
  (aspect ignored) and thresholded to black and white, as Semeion's authors stored their scans,
  then placed like MNIST.
"""

from pathlib import Path

import cv2
import numpy as np

from edgedigits import glyphs, synth
from edgedigits.preprocess import mnist_normalize

HERE = Path(__file__).resolve().parent


def stretched_one(rng) -> np.ndarray:
    fonts = glyphs.available("eval", "latin", "handwriting")
    ink = glyphs._raster(str(rng.choice(fonts)), "1")
    canvas = glyphs._place(ink, rng, 96, handwriting=True, split="eval")
    ys, xs = np.nonzero(canvas > 40)
    box = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scan = (cv2.resize(box, (16, 16), interpolation=cv2.INTER_AREA) > 100).astype(np.uint8) * 255
    return mnist_normalize(scan)


def main() -> None:
    out = HERE / "nondigits"
    out.mkdir(exist_ok=True)
    for script in glyphs.SCRIPTS:
        for style in glyphs.STYLES:
            rng = np.random.default_rng([0, list(glyphs.SCRIPTS).index(script), glyphs.STYLES.index(style)])
            crop = synth._finish(glyphs.letter(rng, "eval", script, style, synth.CANVAS), rng)
            cv2.imwrite(str(out / f"{script}_{style}.png"), crop)
    for kind in synth.FORM_KINDS:
        images, _ = synth.negatives(1, "eval", seed=0, kinds=(kind,))
        cv2.imwrite(str(out / f"{kind}.png"), images[0])
    for k in range(3):
        cv2.imwrite(str(HERE / f"stretched_1_{k}.png"), stretched_one(np.random.default_rng([0, 1, k])))


if __name__ == "__main__":
    main()
