"""The one reader: an image (camera frame, photo, scanned page) -> digits -> numbers.

    from edgedigits import Recognizer
    from edgedigits.reader import Reader
    reading = Reader(Recognizer()).read(page)     # the same as Recognizer().read(page)
    for number in reading.numbers:
        print(number.value, number.box)

Every way in - :meth:`edgedigits.Recognizer.read`, the camera loop, ``edgedigits predict`` -
goes through :meth:`Reader.read`, so one image gives one answer everywhere. The steps:

1. find ink and set the paper's printed structure aside (:func:`edgedigits.vision.locate`, with
   :mod:`edgedigits.paper`): the page on a desk, ruled and grid lines, underlines, boxes, comb
   fields, table cells, checkboxes;
2. normalise each blob like MNIST (done by ``locate``) and classify all of them in one batch;
3. reject what is not a digit: below ``min_confidence``, or (``max_novelty``) unlike every
   training example of the digit it was read as (:mod:`edgedigits.novelty`), or one of the few
   marks read as digits in a word or a field of letters (a printed label, a name in a comb);
4. group the accepted digits into numbers: the digits of one comb field, one box or cell, or one
   underline form one number in reading order; free writing is grouped by line and spacing
   (:func:`edgedigits.vision.group_numbers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .novelty import NoveltyGate
from .paper import Field
from .preprocess import to_gray
from .vision import DEFAULT_CONFIG, FinderConfig, InkBlob, _root, group_numbers, locate

Box = tuple[int, int, int, int]
LOW_CONFIDENCE = "low confidence"
AMONG_LETTERS = "among letters"
UNLIKE_HANDWRITING = "unlike handwriting"
#: An empty rectangle read as a 0 (a box or checkbox the structure steps did not set aside).
A_BOX = "an empty box"
#: A blob not read as a digit is read as two digits joined by ink only when both of its halves
#: are read at least this sure (chosen on the formgen dev pages: 0.7 read more digits and numbers
#: on every page set and added no false digit; at the plain threshold ticks split into "digits").
RECUT_CONFIDENCE = 0.7
#: Digits written on past a box's right side join the box's number (:func:`_written_past`).
OVERFLOW = True
#: Digits outside every field on the row of an underline's digits, over the line, join their number.
UNDERLINE_ROW = True


@dataclass(frozen=True)
class Digit:
    """One piece of ink that was classified.

    Attributes:
        box: (x, y, w, h) in the input image's pixels.
        label: the digit, 0-9.
        confidence: its probability, 0..1.
        rejected: None when accepted, else why not: "low confidence", "unlike handwriting", or
            "among letters" (read as a digit, but in a word or field whose other marks are not digits).
    """

    box: Box
    label: int
    confidence: float
    rejected: str | None = None


@dataclass(frozen=True)
class Number:
    """Accepted digits grouped in reading order (a comb field, a cell, an underline, a run on a line).

    Attributes:
        box: the union of its digits' boxes.
        value: the digits as text, e.g. "4071".
        digits: indexes into :attr:`Reading.digits`.
    """

    box: Box
    value: str
    digits: tuple[int, ...]


@dataclass(frozen=True)
class Reading:
    """What :meth:`Reader.read` found in one image.

    Attributes:
        digits: accepted digits number by number (each number's digits in reading order), then
            the rejected ones top to bottom.
        numbers: the numbers line by line, left to right in each.
        size: (width, height) of the input.
        crops: the 28x28 crop each digit was classified from (aligned with ``digits``).

    Iterating, ``len`` and indexing go over the accepted digits (as the list ``read`` once returned).
    """

    digits: tuple[Digit, ...]
    numbers: tuple[Number, ...]
    size: tuple[int, int]
    crops: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)

    @property
    def accepted(self) -> tuple[Digit, ...]:
        return tuple(d for d in self.digits if d.rejected is None)

    def __iter__(self):
        return iter(self.accepted)

    def __len__(self) -> int:
        return len(self.accepted)

    def __getitem__(self, index):
        return self.accepted[index]

    def to_dict(self) -> dict:
        """JSON-ready: digits, numbers, rejected (each with box, label, confidence; rejected with why) and size."""

        def digit(d):
            out = {"box": list(d.box), "label": d.label, "confidence": round(d.confidence, 4)}
            return out if d.rejected is None else {**out, "why": d.rejected}

        return {
            "digits": [digit(d) for d in self.accepted],
            "numbers": [{"box": list(n.box), "value": n.value} for n in self.numbers],
            "rejected": [digit(d) for d in self.digits if d.rejected is not None],
            "size": list(self.size),
        }


class Reader:
    """Reads every digit and number in an image with a recognizer's model.

    Args:
        recognizer: an :class:`edgedigits.Recognizer` (anything with ``classify`` and ``min_confidence``).
        min_confidence: results below it are rejected as "low confidence" (None: the recognizer's
            own ``min_confidence``, read at every call, so changing it later takes effect).
        max_novelty: results farther than this from the training examples of their class are
            rejected as "unlike handwriting" (see :mod:`edgedigits.novelty`; its calibrated value
            is ``novelty.DEFAULT_MAX_NOVELTY``); None (the default) turns it off: measured on the
            re-shipped model it removed few non-digits the model's own rejection keeps and threw
            away a quarter of real scanned digits (benchmarks/results/real.md).
        config: limits of the ink finder (:class:`edgedigits.vision.FinderConfig`).
    """

    def __init__(
        self,
        recognizer,
        *,
        min_confidence: float | None = None,
        max_novelty: float | None = None,
        config: FinderConfig = DEFAULT_CONFIG,
    ):
        self.recognizer, self.config = recognizer, config
        self._min_confidence = min_confidence
        self.max_novelty = max_novelty
        self._novelty = None
        if max_novelty is not None:  # loaded now, not on the first frame of a timed run
            self._novelty = NoveltyGate()

    @property
    def min_confidence(self) -> float:
        return self.recognizer.min_confidence if self._min_confidence is None else self._min_confidence

    def read(self, image) -> Reading:
        """The digits and numbers in ``image``: any array :func:`edgedigits.preprocess.to_gray` reads.

        A 28x28 image that already looks like MNIST (a light digit on a dark background) is
        classified as it is, as one digit.

        Raises:
            InputError: (a ValueError) ``image`` is not an image: not an array, empty, a shape
                other than HxW / HxWx{1,3,4}, or a dtype that is not integer, bool or float.
        """
        gray = to_gray(image)
        size = (int(gray.shape[1]), int(gray.shape[0]))
        if gray.shape == (28, 28) and np.median(gray) < 64:
            blobs, fields, others = ([InkBlob((0, 0, 28, 28), gray)] if gray.any() else []), [], []
        else:
            found = locate(gray, self.config)
            blobs, fields, others = found.blobs, found.structure.fields, found.others
        if not blobs:
            return Reading((), (), size)
        blobs, labels, confidences, why = self._classify(blobs)
        where = [_field_of(b.box, fields) if fields else None for b in blobs]
        why = _among_letters([b.box for b in blobs], why, fields, where, others)
        digits = [Digit(b.box, int(k), float(c), w) for b, k, c, w in zip(blobs, labels, confidences, why)]
        return _assemble(digits, [b.crop for b in blobs], fields, size, where)

    def _classify(self, blobs: list[InkBlob]):
        """(blobs, labels, confidences, why rejected), in one batch, then a second for recuts.

        A blob that is not read as a digit but has two :attr:`~InkBlob.parts` (two digits
        joined by ink) is replaced by its parts when both are read as digits with a confidence
        of at least :data:`RECUT_CONFIDENCE`.
        """
        batch = np.stack([b.crop for b in blobs])
        result = self.recognizer.classify(batch)
        labels, confidences = result.labels.tolist(), result.confidences.tolist()
        why = self._rejections(batch, result)
        why = [A_BOX if w is None and k == 0 and b.rectangle else w for b, k, w in zip(blobs, labels, why)]
        recut = [i for i, b in enumerate(blobs) if b.parts and why[i] is not None]
        if not recut:
            return blobs, labels, confidences, why
        halves = np.stack([p.crop for i in recut for p in blobs[i].parts])
        second = self.recognizer.classify(halves)
        why2 = self._rejections(halves, second)
        sure = max(self.min_confidence, RECUT_CONFIDENCE)
        slot = {i: n for n, i in enumerate(recut)}
        rows = []
        for i, b in enumerate(blobs):
            n = slot.get(i, -1)
            if (
                n >= 0
                and why2[2 * n] is None
                and why2[2 * n + 1] is None
                and min(second.confidences[2 * n : 2 * n + 2]) >= sure
            ):
                rows += [
                    (p, second.labels[2 * n + k], second.confidences[2 * n + k], None) for k, p in enumerate(b.parts)
                ]
            else:
                rows.append((b, labels[i], confidences[i], why[i]))
        return tuple(list(column) for column in zip(*rows))

    def _rejections(self, batch: np.ndarray, result) -> list[str | None]:
        """Why each result is not a digit (None = accepted)."""
        ok = result.confidences >= self.min_confidence
        why = [None if k else LOW_CONFIDENCE for k in ok]
        if self.max_novelty is not None and ok.any():
            if self._novelty is None:  # max_novelty set after construction
                self._novelty = NoveltyGate()
            far = self._novelty.distances(batch[ok], result.labels[ok]) > self.max_novelty
            for i, f in zip(np.flatnonzero(ok), far):
                if f:
                    why[i] = UNLIKE_HANDWRITING
        return why


def _among_letters(
    boxes: list[Box], why: list[str | None], fields: list[Field], where: list[int | None], others=()
) -> list[str | None]:
    """``why`` with the accepted marks of a word rejected too: in a run of at least four marks on
    one line, close together (a printed label, a name), or in one comb field or box, where at
    least half the marks are not digits, the few read as digits are letters (an l or an I read
    as 1, an O as 0). Four and a half were chosen on formgen dev pages and the dev camera video
    (with three, a digit beside two rejected fragments of a drawn box was lost). ``where``: the
    field of each mark (:func:`_field_of`, None outside every field). ``others``: boxes of ink
    that was never a candidate (:attr:`~edgedigits.vision.Found.others`: the small letters of a
    printed word, letters that touch); outside every field they count as marks that are not
    digits, when at least half as tall as the run's candidates (so a few specks or the broken
    pieces of a drawn box beside one digit do not make a word of it)."""
    count = len(boxes)
    loose = [b for b in others if not fields or _field_of(b, fields) is None]
    boxes = list(boxes) + loose
    why = list(why) + [LOW_CONFIDENCE] * len(loose)
    where = list(where) + [None] * len(loose)
    groups: dict[int, list[int]] = {}
    free = []
    for i, f in enumerate(where):
        if f is not None and fields[f].kind == "grid":
            continue  # one digit per square: no words there
        if f is None or fields[f].kind == "underline":
            free.append(i)
        else:
            groups.setdefault(f, []).append(i)
    runs = list(groups.values())
    runs += [[free[k] for k in n.members] for n in group_numbers([boxes[i] for i in free], [0] * len(free))]
    out = list(why)
    for run in runs:
        tall = [boxes[i][3] for i in run if i < count]
        if not tall:
            continue
        run = [i for i in run if i < count or boxes[i][3] >= 0.5 * float(np.median(tall))]
        rejected = sum(why[i] is not None for i in run)
        if len(run) >= 4 and rejected >= 0.5 * len(run):
            for i in run:
                if out[i] is None:
                    out[i] = AMONG_LETTERS
    return out[:count]


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2.0, box[1] + box[3] / 2.0


def _inside(point, box: Box, margin: float = 2) -> bool:
    x, y = point
    return box[0] - margin <= x <= box[0] + box[2] + margin and box[1] - margin <= y <= box[1] + box[3] + margin


def _field_of(box: Box, fields: list[Field]) -> int | None:
    """The index of the field a digit belongs to (the smallest that holds it), or None."""
    cx, cy = _centre(box)
    best = None
    for i, f in enumerate(fields):
        fx, fy, fw, fh = f.box
        if f.kind == "underline":
            bottom = box[1] + box[3]
            ok = fx <= cx <= fx + fw and fy - 0.6 * box[3] <= bottom <= fy + fh + 0.4 * box[3]
        else:
            ok = _inside((cx, cy), f.box)
        if ok and (best is None or fw * fh < fields[best].box[2] * fields[best].box[3]):
            best = i
    return best


def _reading_order(boxes: list[Box], members: list[int]) -> list[int]:
    """``members`` in reading order: lines top to bottom (by vertical overlap), left to right in each."""
    rows: list[list[int]] = []
    for i in sorted(members, key=lambda i: boxes[i][1] + boxes[i][3] / 2):
        x, y, w, h = boxes[i]
        for row in rows:
            rx, ry, rw, rh = boxes[row[0]]
            if min(y + h, ry + rh) - max(y, ry) >= 0.5 * min(h, rh):
                row.append(i)
                break
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0])]


def _union(boxes) -> Box:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def _grid_runs(boxes: list[Box], members: list[int], cells: tuple[Box, ...]) -> list[list[int]] | None:
    """The digits on squared paper as numbers: one digit per square, the digits in neighbouring
    squares of one row form a number (a blank square, or more, between numbers). None when the
    digits are much taller than the squares: writing across the squares, grouped as free writing.

    A digit's square is found on the lattice of the whole square cell nearest it (its step from
    one square to the next, :func:`_pitch`): where a digit broke a line, its own square is no
    cell, or one merged with its neighbour. Two digits are neighbours when their squares are
    one step apart in x and within half a square in y, judged pair by pair: across a
    photographed page the rows are not level. Dev pages, numbers read right: scans
    78.4 -> 80.9 %, photos 56.2 -> 60.7 %, 300 dpi 84.6 -> 85.9 % (the nearest cell itself had
    been taken for the square, and the rows sorted by one rounded height)."""
    cw = float(np.median([c[2] for c in cells]))
    ch = float(np.median([c[3] for c in cells]))
    if np.median([boxes[i][3] for i in members]) > 1.3 * ch:
        return None
    # squares of the paper's own size: a hole merged with its neighbour (a digit written across the
    # line between them broke it) has its centre between squares
    whole = [c for c in cells if 0.8 * cw <= c[2] <= 1.25 * cw and 0.8 * ch <= c[3] <= 1.25 * ch] or list(cells)
    centres = np.array([_centre(c) for c in whole], np.float32)
    px, py = _pitch(centres, cw, ch, 0), _pitch(centres, cw, ch, 1)
    square = {}
    for i in members:  # the square holding the digit's centre, on the lattice of the nearest cell
        cx, cy = _centre(boxes[i])
        near = centres[int(np.argmin(np.abs(centres[:, 0] - cx) / cw + np.abs(centres[:, 1] - cy) / ch))]
        square[i] = near + np.float32([round((cx - near[0]) / px) * px, round((cy - near[1]) / py) * py])
    # neighbouring squares of one row, judged pair by pair: across a photographed page the rows
    # are not level, so no one row height sorts them
    parent = list(range(len(members)))  # union-find over the positions in ``members``
    at = np.array([square[i] for i in members], np.float32)
    dx = at[None, :, 0] - at[:, None, 0]
    dy = at[None, :, 1] - at[:, None, 1]
    for a, b in zip(*np.nonzero((dx > 0) & (dx < 1.5 * cw) & (np.abs(dy) < 0.5 * ch))):
        parent[_root(parent, int(b))] = _root(parent, int(a))
    chains: dict[int, list[int]] = {}
    for k, i in enumerate(members):
        chains.setdefault(_root(parent, k), []).append(i)
    runs = [sorted(run, key=lambda i: float(square[i][0])) for run in chains.values()]
    return runs


def _written_past(boxes: list[Box], fields: list[Field], by_field: dict[int, list[int]], free: list[int]) -> list[int]:
    """``free`` without the digits written on past the right side of a box, cell or comb field
    that holds digits (which join its members in ``by_field``): a digit outside every field, on
    the line of the field's digits (overlapping their rows by 0.6 of the shorter), beginning at
    most a third of their height past the field's right side - or past the last digit so added.
    A number written too long for its box runs over the box's side or beyond it (dev pages:
    single-box numbers read right 13 -> 16 of 21 on scans, 14 -> 15 on photos; nothing else
    changed). On an underline, a free digit over the line on the row of its digits joins them
    (:data:`UNDERLINE_ROW`): one written higher than the rest, too high to be on the line by
    itself (dev scans, seed 78: 82.2 -> 82.7 % of numbers; seed 77 unchanged)."""
    left = sorted(free, key=lambda i: boxes[i][0])
    taken = set()
    for f, members in by_field.items():
        fx, _, fw, _ = fields[f].box
        u = _union([boxes[i] for i in members])
        if fields[f].kind == "underline" and UNDERLINE_ROW:
            # a digit of the number written a little higher than the rest, over the line
            for i in left:
                x, _, w, _ = boxes[i]
                if i not in taken and fx <= x + w / 2 <= fx + fw and _on_the_row(boxes[i], u):
                    members.append(i)
                    taken.add(i)
            continue
        if fields[f].kind not in ("cell", "comb"):
            continue
        edge = max(fx + fw, u[0] + u[2])
        for i in left:
            x, _, w, _ = boxes[i]
            if i in taken or x + w / 2 <= fx + fw:
                continue
            if _on_the_row(boxes[i], u) and x - edge <= u[3] / 3:
                members.append(i)
                taken.add(i)
                edge = x + w
    return [i for i in free if i not in taken]


def _on_the_row(box: Box, row: Box) -> bool:
    """Whether ``box`` shares at least 0.6 of the shorter one's rows with ``row``."""
    shared = min(box[1] + box[3], row[1] + row[3]) - max(box[1], row[1])
    return shared >= 0.6 * min(box[3], row[3])


def _pitch(centres: np.ndarray, cw: float, ch: float, axis: int) -> float:
    """The distance from one square's centre to the next along ``axis`` (0 = x) on squared paper:
    the median, over the squares, of the step to the nearest square beside it in its row (or
    column); the squares' own median size plus a line's width when none is found."""
    size, other = (cw, ch) if axis == 0 else (ch, cw)
    along, across = centres[:, axis], centres[:, 1 - axis]
    nearest = []
    for s in range(0, len(centres), 512):  # 512 squares against all at a time: bounded memory on a page of squares
        step = along[None, :] - along[s : s + 512, None]
        across_by = np.abs(across[None, :] - across[s : s + 512, None])
        beside = (across_by < 0.5 * other) & (step > 0.5 * size) & (step < 1.6 * size)
        nearest.append(np.where(beside, step, np.inf).min(axis=1))
    steps = np.concatenate(nearest)
    steps = steps[np.isfinite(steps)]
    return float(np.median(steps)) if steps.size else size + 1.0


def group(digits: list[Digit], fields: list[Field], where: list[int | None] | None = None) -> list[list[int]]:
    """Indexes of the accepted ``digits``, grouped into numbers, each in reading order.

    The digits of one field (comb field, cell, underline) form one number; on squared paper (a
    grid field) the digits in neighbouring squares of a row do; the rest are grouped by
    :func:`edgedigits.vision.group_numbers`. Numbers come line by line (boxes overlapping
    vertically by half are one line), left to right in each. ``where``: each digit's field
    (:func:`_field_of`) when the caller has it already.
    """
    accepted = [i for i, d in enumerate(digits) if d.rejected is None]
    boxes = [d.box for d in digits]
    by_field: dict[int, list[int]] = {}
    free = []
    for i in accepted:
        f = where[i] if where is not None else _field_of(boxes[i], fields) if fields else None
        (free if f is None else by_field.setdefault(f, [])).append(i)
    if OVERFLOW and free:
        free = _written_past(boxes, fields, by_field, free)
    groups = []
    for f, members in by_field.items():
        runs = _grid_runs(boxes, members, fields[f].cells) if fields[f].kind == "grid" else [members]
        if runs is None:  # free writing over squared paper
            free += members
            continue
        groups += [_reading_order(boxes, run) for run in runs]
    for n in group_numbers([boxes[i] for i in free], [digits[i].label for i in free]):
        groups.append([free[k] for k in n.members])
    spans = [_union([boxes[i] for i in g]) for g in groups]
    return [groups[k] for k in _reading_order(spans, list(range(len(groups))))]


def _assemble(
    digits: list[Digit], crops: list[np.ndarray], fields: list[Field], size, where: list[int | None] | None = None
) -> Reading:
    """The Reading: accepted digits number by number, then the rejected ones; numbers index them."""
    groups = group(digits, fields, where)
    order = [i for g in groups for i in g]
    order += [i for i, d in enumerate(digits) if d.rejected is not None]
    position = {old: new for new, old in enumerate(order)}
    numbers = tuple(
        Number(
            _union([digits[i].box for i in g]), "".join(str(digits[i].label) for i in g), tuple(position[i] for i in g)
        )
        for g in groups
    )
    return Reading(tuple(digits[i] for i in order), numbers, size, tuple(crops[i] for i in order))
