"""`edgedigits batch`: bulk reading of folders, file lists and archives into JSON Lines or Parquet.

    from edgedigits.batch import run_batch
    summary = run_batch(["scans/", "more.zip"], "out/")     # out/part-00000.jsonl, ...

One row per image: ``file`` (a path, or ``archive::member``), ``error`` (None, or why that file
could not be read: a bad file never stops the job), ``width``, ``height``, ``numbers`` and
``digits`` as the one reader gives them. Rows are written in parts, each atomically
(``part-NNNNN.jsonl`` / ``.parquet``); a rerun into the same folder skips every file already in a
part, so an interrupted job resumes where its last complete part ended.

Engines: ``local`` (processes on this machine, one Recognizer each) and ``ray`` (a Ray Data actor
pool over Recognizer, on a local or an existing cluster).
"""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ._deps import has, need_ray
from ._io import atomic_path
from ._progress import Progress
from .errors import InputError, MissingDependencyError, UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
LIST_SUFFIXES = (".txt", ".lst")
FORMATS = {"jsonl": ".jsonl", "parquet": ".parquet"}
PART_ROWS = 1000
MAX_PIXELS = 100_000_000  # a page scanned at 1200 dpi is ~140 Mpx: larger images are recorded as errors


@dataclass(frozen=True)
class Item:
    """One image to read: a file, or a member of an archive."""

    path: str
    member: str | None = None

    @property
    def key(self) -> str:
        return f"{self.path}::{self.member}" if self.member else self.path


def _suffix(path: Path, options) -> str | None:
    name = path.name.lower()
    return next((s for s in options if name.endswith(s)), None)


def discover(inputs: list[str]) -> list[Item]:
    """Every image named by ``inputs`` (files, folders searched recursively, lists, archives), in order.

    Raises:
        UsageError: an input does not exist or is of no kind above, or nothing at all was found.
    """
    items: list[Item] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            items += [
                Item(str(p))
                for p in sorted(path.rglob("*"))
                if p.is_file() and _suffix(p, IMAGE_SUFFIXES) and not p.name.startswith(".")
            ]
        elif not path.exists():
            raise UsageError(
                f"{text} does not exist; pass image files, folders, file lists (.txt) or archives (.zip, .tar)."
            )
        elif _suffix(path, ARCHIVE_SUFFIXES):
            items += _archive_items(path)
        elif _suffix(path, LIST_SUFFIXES):
            items += _listed(path)
        else:
            items.append(Item(str(path)))  # any other file is read as an image (or recorded as an error)
    if not items:
        raise UsageError(
            "no images were found in the inputs; pass image files, folders with images, file lists "
            "or archives of images."
        )
    return list(dict.fromkeys(items))


def _listed(path: Path) -> list[Item]:
    """The files of a list (one path a line; relative paths are relative to the list's folder)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"the file list {path} cannot be read ({exc}); pass a UTF-8 text file, one path a line."
        ) from None
    return [Item(str(path.parent / line.strip())) for line in lines if line.strip() and not line.startswith("#")]


def _archive_items(path: Path) -> list[Item]:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = [i.filename for i in z.infolist() if not i.is_dir()]
        else:
            with tarfile.open(path) as t:
                names = [m.name for m in t.getmembers() if m.isfile()]
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise UsageError(
            f"the archive {path} cannot be opened ({exc}); check that it is a complete .zip or .tar."
        ) from None
    return [Item(str(path), n) for n in sorted(names) if _suffix(Path(n), IMAGE_SUFFIXES)]


class Loader:
    """Reads items' bytes, keeping the archive last used open."""

    def __init__(self):
        self._path, self._archive = None, None

    def __call__(self, item: Item) -> bytes:
        if item.member is None:
            with open(item.path, "rb") as f:
                return f.read()
        if self._path != item.path:
            self.close()
            self._archive = zipfile.ZipFile(item.path) if zipfile.is_zipfile(item.path) else tarfile.open(item.path)
            self._path = item.path
        if isinstance(self._archive, zipfile.ZipFile):
            return self._archive.read(item.member)
        f = self._archive.extractfile(item.member)
        if f is None:
            raise OSError("not a regular file in the archive")
        return f.read()

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
        self._path, self._archive = None, None


def decode(data: bytes, max_pixels: int = MAX_PIXELS):
    """Image bytes as a BGR array (PNG/JPEG checked against ``max_pixels`` before decoding)."""
    import cv2
    import numpy as np

    from .images import decode_image, quiet_opencv  # imports cv2

    if not data:
        raise InputError("the file is empty")
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:2] == b"\xff\xd8":
        return decode_image(data, max_pixels)
    with quiet_opencv():
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("the file is not an image OpenCV can decode (PNG, JPEG, BMP, TIFF, WebP, PNM)")
    return image


def read_item(recognizer, item: Item, load) -> dict:
    """The output row of one item; any failure becomes its ``error``, never an exception."""
    row = {"file": item.key, "error": None, "width": None, "height": None, "numbers": [], "digits": []}
    try:
        image = decode(load(item))
        reading = recognizer.read(image).to_dict()
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        row["error"] = f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
        return row
    except InputError as exc:
        row["error"] = str(exc).rstrip(".")
        return row
    except Exception as exc:  # one bad file never ends the job; the row says what happened
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    row["width"], row["height"] = reading["size"]
    row["numbers"] = [{"box": n["box"], "value": n["value"]} for n in reading["numbers"]]
    row["digits"] = [{"box": d["box"], "label": d["label"], "confidence": d["confidence"]} for d in reading["digits"]]
    return row


def _parquet_schema():
    import pyarrow as pa

    box = pa.list_(pa.int32())
    return pa.schema(
        [
            ("file", pa.string()),
            ("error", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("numbers", pa.list_(pa.struct([("box", box), ("value", pa.string())]))),
            ("digits", pa.list_(pa.struct([("box", box), ("label", pa.int8()), ("confidence", pa.float32())]))),
        ]
    )


class Output:
    """The output folder: the parts written so far, and atomic writes of new ones."""

    def __init__(self, folder: str | os.PathLike, fmt: str = "jsonl"):
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r} is unknown; choose from {', '.join(FORMATS)}.")
        self.folder, self.fmt, self.suffix = Path(folder), fmt, FORMATS[fmt]
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"--out {folder} is a file; pass a folder (it is created if missing).")
        other = [p.name for p in self.parts(next(s for f, s in FORMATS.items() if f != fmt))]
        if other:
            raise UsageError(
                f"{folder} already holds {other[0]} from a run in another format; use another --out "
                f"or the same --format."
            )
        if fmt == "parquet":
            if not has("pyarrow"):
                raise MissingDependencyError("pyarrow", "--format parquet", "pip install 'edgedigits[parquet]'")
        self.folder.mkdir(parents=True, exist_ok=True)

    def parts(self, suffix: str | None = None) -> list[Path]:
        return sorted(self.folder.glob(f"part-*{suffix or self.suffix}"))

    def done(self) -> set[str]:
        """The files recorded in the parts written so far (read or failed: both are done)."""
        keys: set[str] = set()
        for part in self.parts():
            if self.fmt == "jsonl":
                with open(part, encoding="utf-8") as f:
                    keys.update(json.loads(line)["file"] for line in f if line.strip())
            else:
                import pyarrow.parquet as pq

                keys.update(pq.read_table(part, columns=["file"]).column("file").to_pylist())
        return keys

    def write(self, rows: list[dict]) -> Path:
        """Write ``rows`` as the next part, atomically (a crash leaves no partial part)."""
        parts = self.parts()
        index = int(parts[-1].name[5:10]) + 1 if parts else 0
        target = self.folder / f"part-{index:05d}{self.suffix}"
        with atomic_path(target) as tmp:
            if self.fmt == "jsonl":
                tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist(rows, schema=_parquet_schema()), tmp)
        return target


@dataclass
class Summary:
    """What one run did."""

    found: int = 0
    skipped: int = 0
    read: int = 0
    errors: int = 0
    numbers: int = 0
    seconds: float = 0.0
    nodes: set = field(default_factory=set)  # Ray node ids that read files (engine 'ray')

    def text(self) -> str:
        rate = self.read / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.read} images read ({rate:.1f}/s), {self.numbers} numbers found, {self.errors} files "
            f"could not be read (see their 'error'), {self.skipped} already done of {self.found}"
            + (f"; read on {len(self.nodes)} Ray node(s)" if self.nodes else "")
        )


@dataclass
class Model:
    """How each worker builds its Recognizer (picklable, so it travels to processes and Ray actors)."""

    model: str | None = None
    backend: str = "auto"
    precision: str = "auto"
    threads: int | None = 1

    def open(self):
        from .recognizer import Recognizer  # imports cv2

        return Recognizer(self.model, backend=self.backend, precision=self.precision, threads=self.threads)


_worker: dict = {}


def _worker_init(model: Model) -> None:
    import cv2

    cv2.setNumThreads(1)
    _worker["recognizer"], _worker["load"] = model.open(), Loader()


def _worker_read(items: list[Item]) -> list[dict]:
    return [read_item(_worker["recognizer"], item, _worker["load"]) for item in items]


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _local_rows(items: list[Item], model: Model, workers: int, chunk: int = 32):
    """Yield lists of rows, read by ``workers`` processes in chunks (1 worker: in this process, row by row)."""
    if workers == 1:
        _worker_init(model)
        try:
            for part in _chunks(items, 1):
                yield _worker_read(part)
        finally:
            _worker.pop("load").close()
            _worker.pop("recognizer").close()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no fork of a process holding runtime threads
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(model,)) as pool:
        yield from pool.map(_worker_read, _chunks(items, chunk))


def run_batch(
    inputs: list[str],
    out: str | os.PathLike,
    *,
    fmt: str = "jsonl",
    engine: str = "local",
    workers: int | None = None,
    model: Model | None = None,
    address: str | None = None,
    progress: bool = True,
    part_rows: int = PART_ROWS,
) -> Summary:
    """Read every image of ``inputs`` into ``out``; see the module docstring.

    Args:
        inputs: files, folders, file lists and archives.
        out: the output folder (created; a rerun into it resumes).
        fmt: 'jsonl' or 'parquet' (needs pyarrow).
        engine: 'local' or 'ray'.
        workers: processes (local) or actors (ray); default: this machine's CPU count.
        model: how to build each worker's Recognizer.
        address: an existing Ray cluster (engine 'ray'); None starts a local one.
        progress: show a progress bar on stderr.
        part_rows: rows per output part.
    """
    import time

    if engine not in ("local", "ray"):
        raise UsageError(f"--engine {engine!r} is unknown; choose local or ray.")
    if engine == "ray":
        need_ray("edgedigits batch --engine ray")
    output = Output(out, fmt)
    items = discover(inputs)
    done = output.done()
    todo = [i for i in items if i.key not in done]
    summary = Summary(found=len(items), skipped=len(items) - len(todo))
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(todo))))
    model = model or Model()
    start = time.perf_counter()
    buffer: list[dict] = []
    rows = (
        _local_rows(todo, model, workers)
        if engine == "local"
        else _ray_rows(todo, model, workers, address, summary.nodes)
    )
    with Progress(len(todo), "batch", enabled=progress and bool(todo)) as bar:
        for chunk in rows if todo else ():
            buffer += chunk
            for row in chunk:
                summary.read += row["error"] is None
                summary.errors += row["error"] is not None
                summary.numbers += len(row["numbers"])
            bar.update(len(chunk), f"{summary.errors} errors")
            if len(buffer) >= part_rows:
                output.write(buffer)
                buffer = []
        if buffer:
            output.write(buffer)
    summary.seconds = time.perf_counter() - start
    return summary


class _RayReader:
    """A Ray Data actor: one Recognizer, reading the files a batch of rows names."""

    def __init__(self, model: Model):
        _worker_init(model)

    def __call__(self, batch: dict) -> dict:
        import ray

        items = [Item(p, m or None) for p, m in zip(batch["path"], batch["member"])]
        node = ray.get_runtime_context().get_node_id()
        return {"row": [json.dumps(r) for r in _worker_read(items)], "node": [node] * len(items)}


def _ray_rows(items: list[Item], model: Model, workers: int, address: str | None, nodes: set, chunk: int = 32):
    """Yield lists of rows read by a Ray Data actor pool (files are read inside the actors, from the
    paths listed here: faster than shipping their bytes); ``nodes`` collects the ids of the nodes
    that read them."""
    ray = need_ray("edgedigits batch --engine ray")
    import ray.data  # noqa: F811  (the submodule; need_ray gave the package)

    chunk = max(1, min(chunk, len(items) // (4 * workers)))  # several batches per actor: all share the work
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, logging_level="warning", log_to_driver=False)
    try:
        ds = ray.data.from_items([{"path": i.path, "member": i.member or ""} for i in items])
        # Fractional CPUs: whole-CPU actors starve Ray Data's own tasks on small nodes (the job hangs).
        ds = ds.map_batches(
            _RayReader,
            fn_constructor_args=(model,),
            batch_size=chunk,
            num_cpus=0.5,
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_format="numpy",
            scheduling_strategy="SPREAD",
        )
        for batch in ds.iter_batches(batch_size=chunk, batch_format="numpy"):
            nodes.update(batch["node"].tolist())
            yield [json.loads(r) for r in batch["row"]]
    finally:
        if started:
            ray.shutdown()
