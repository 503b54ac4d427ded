"""Hand-made hostile bundles: loading one must never run code, read outside the bundle or crash.

A hostile bundle's author writes the manifest and its checksums too, so every bundle here has
checksums that match: what refuses it is the check under test, not the SHA-256. Each refusal is
one BundleError/BackendError sentence, through the SDK and through the CLI.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _support import has_module, requires_torch, run_cli
from edgedigits import Recognizer
from edgedigits._onnxcheck import MAX_DEPTH, MalformedModel, external_tensors
from edgedigits.bundle import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    base_manifest,
    default_bundle_path,
    load_bundle,
    make_artifact,
    write_manifest,
)
from edgedigits.errors import BackendError, BundleError, EdgeDigitsError

ROOT = Path(__file__).resolve().parents[1]
requires_onnx = pytest.mark.skipif(
    not has_module("onnx"), reason="the onnx package is not installed (pip install 'edgedigits[export]')"
)
REFUSED = r"a bundle may only refer to files inside its own folder, so the model was refused before any backend"


# -- helpers ------------------------------------------------------------------------------------------
def make_bundle(root: Path, files: dict[str, bytes], artifacts: list[tuple], model: str = "digitnet_sf") -> Path:
    """Write ``files`` under ``root`` and a manifest whose checksums match them.

    ``artifacts``: (id, format, precision, file, companions) tuples.
    """
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    write_manifest(
        root,
        base_manifest(model, 1, 1),
        [make_artifact(root, i, f, p, file, companions) for i, f, p, file, companions in artifacts],
    )
    return root


def onnx_bundle(root: Path, model_bytes: bytes, companions: dict[str, bytes] | None = None) -> Path:
    companions = companions or {}
    return make_bundle(
        root,
        {"model.onnx": model_bytes, **companions},
        [("onnx-fp32", "onnx", "fp32", "model.onnx", tuple(companions))],
    )


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and message.endswith("."), message
    return message


def digit_png(tmp_path: Path) -> Path:
    import cv2

    from edgedigits.samples import load_sample

    images, _ = load_sample("heldout")
    path = tmp_path / "digit.png"
    cv2.imwrite(str(path), images[0])
    return path


def assert_cli_refuses(tmp_path: Path, bundle: Path, pattern: str, *extra) -> None:
    """`edgedigits predict --model bundle digit.png` exits non-zero with one matching line, no traceback."""
    result = run_cli("predict", "--model", bundle, *extra, digit_png(tmp_path), timeout=300)
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("edgedigits predict: error: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]


# -- ONNX external data -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def external_model(tmp_path_factory):
    """The shipped FP32 model with its large weights moved to ``model.data``: (model bytes, data bytes)."""
    onnx = pytest.importorskip("onnx", reason="the onnx package is not installed (pip install 'edgedigits[export]')")
    folder = tmp_path_factory.mktemp("external")
    onnx.save_model(
        onnx.load(str(default_bundle_path() / "model.onnx")),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.data",
        size_threshold=1024,
    )
    return (folder / "model.onnx").read_bytes(), (folder / "model.data").read_bytes()


def relocated(model_bytes: bytes, location: str) -> bytes:
    """``model_bytes`` with every external-data location replaced by ``location``."""
    import onnx

    model = onnx.ModelProto.FromString(model_bytes)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    return model.SerializeToString()


HOSTILE = ["dotdot", "absolute", "symlink", "unlisted", "ort-memory-address"]


def build_hostile(kind: str, tmp_path: Path, external_model) -> tuple[Path, str]:
    """(bundle, message pattern): an ONNX model whose weights are read from somewhere they must not be.

    The real weights sit outside the bundle in ``secret.bin``, so without the location check a
    backend that follows the path (OpenCV does) would load the model and run it.
    """
    model_bytes, data = external_model
    secret = tmp_path / "secret.bin"
    secret.write_bytes(data)
    root = tmp_path / "bundle"
    root.mkdir()
    if kind == "dotdot":
        location, pattern = "../secret.bin", r"contains '\.\.'"
    elif kind == "absolute":
        location, pattern = str(secret), r"is not a plain relative path"
    elif kind == "symlink":
        (root / "link.data").symlink_to(secret)
        location, pattern = "link.data", r"leads outside the bundle"
    elif kind == "unlisted":  # inside the bundle, but no checksum covers it
        (root / "extra.data").write_bytes(data)
        location, pattern = "extra.data", r"a file the manifest does not list for onnx-fp32"
    else:  # ONNX Runtime's in-memory tag: the offset would be a raw pointer
        location, pattern = "*/_ORT_MEM_ADDR_/*", r"a file the manifest does not list"
    onnx_bundle(root, relocated(model_bytes, location))
    if kind in ("dotdot", "absolute", "symlink"):
        pattern += ".*" + REFUSED
    return root, pattern


@pytest.fixture(params=HOSTILE)
def hostile_onnx(request, tmp_path, external_model):
    return build_hostile(request.param, tmp_path, external_model)


def test_external_data_inside_the_bundle_loads(tmp_path, external_model):
    """A model whose weights are legitimately in a listed companion file runs like the shipped one."""
    from edgedigits.samples import load_sample

    model_bytes, data = external_model
    root = onnx_bundle(tmp_path / "bundle", model_bytes, {"model.data": data})
    images, _ = load_sample("heldout")
    expected = Recognizer(backend="onnxruntime", precision="fp32").classify(images[:64]).labels
    for backend in ("onnxruntime", "opencv"):
        rec = Recognizer(root, backend=backend, precision="fp32")
        np.testing.assert_array_equal(rec.classify(images[:64]).labels, expected)


def test_hostile_model_would_be_read_without_the_check(tmp_path, external_model):
    """The fixture is a real attack: OpenCV follows '../' and loads the weights from outside."""
    import cv2

    model_bytes, data = external_model
    (tmp_path / "secret.bin").write_bytes(data)
    (tmp_path / "bundle").mkdir()
    path = tmp_path / "bundle" / "model.onnx"
    path.write_bytes(relocated(model_bytes, "../secret.bin"))
    net = cv2.dnn.readNetFromONNX(str(path))
    net.setInput(np.zeros((1, 1, 28, 28), np.float32))
    assert net.forward().shape == (1, 10)


def test_hostile_external_data_is_refused_by_load(hostile_onnx):
    root, pattern = hostile_onnx
    with pytest.raises(BundleError, match=pattern):  # the whole bundle is checked when it is loaded
        load_bundle(root)
    bundle = load_bundle(root, verify=False)
    with pytest.raises(BundleError, match=pattern) as info:
        bundle.artifact_path("onnx-fp32")
    one_line(info.value)
    with pytest.raises(BundleError, match=pattern):  # still refused on a second try
        bundle.verify()


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv", "auto"])
def test_hostile_external_data_is_refused_by_recognizer(hostile_onnx, backend):
    root, pattern = hostile_onnx
    with pytest.raises(BundleError, match=pattern) as info:
        Recognizer(model=root, backend=backend)
    one_line(info.value)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_hostile_external_data_is_refused_by_cli(tmp_path, external_model, kind):
    root, pattern = build_hostile(kind, tmp_path, external_model)
    assert_cli_refuses(tmp_path, root, pattern, "--backend", "onnxruntime")


# Every place a tensor can sit in a model: each gets one external tensor pointing outside.
def _model_with_external_tensor(where: str) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    def external(name: str) -> TensorProto:
        t = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
        t.ClearField("float_data")
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value="../secret.bin")
        return t

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes, inits, sparse, functions, training = [helper.make_node("Identity", ["x"], ["y"])], [], [], [], []
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "branch", [], [y])
    if where == "initializer":
        inits.append(external("w"))
    elif where == "sparse_initializer":
        indices = helper.make_tensor("w_idx", TensorProto.INT64, [1], [0])
        sparse.append(helper.make_sparse_tensor(external("w"), indices, [2]))
    elif where == "attribute t":
        nodes.append(helper.make_node("Constant", [], ["c"], value=external("w")))
    elif where == "attribute tensors":
        node = helper.make_node("Custom", [], ["c"], domain="test")
        node.attribute.append(helper.make_attribute("many", [external("w"), external("w")]))
        nodes.append(node)
    elif where in ("subgraph", "nested subgraph"):
        inner = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "inner", [], [y], initializer=[external("w")]
        )
        if where == "nested subgraph":
            loop_body = inner
            inner = helper.make_graph([helper.make_node("Loop", ["", ""], ["y"], body=loop_body)], "mid", [], [y])
        nodes.append(helper.make_node("If", ["cond"], ["z"], then_branch=inner, else_branch=branch))
    elif where == "function":
        constant = helper.make_node("Constant", [], ["c"], value=external("w"))
        fn = helper.make_function("test", "F", [], ["c"], [constant], [helper.make_opsetid("", 17)])
        functions.append(fn)
    elif where == "training graph":
        init_graph = helper.make_graph([], "init", [], [], initializer=[external("w")])
        training.append(onnx.TrainingInfoProto(initialization=init_graph))
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits, sparse_initializer=sparse)
    model = helper.make_model(graph, functions=functions)
    model.training_info.extend(training)
    return model.SerializeToString()


PLACES = [
    "initializer",
    "sparse_initializer",
    "attribute t",
    "attribute tensors",
    "subgraph",
    "nested subgraph",
    "function",
    "training graph",
]


@requires_onnx
@pytest.mark.parametrize("where", PLACES)
def test_external_tensors_are_found_everywhere(tmp_path, where):
    data = _model_with_external_tensor(where)
    found = external_tensors(data)
    assert "w" in [t.name for t in found]
    assert all(t.marked_external and t.locations == ["../secret.bin"] for t in found)
    bundle = load_bundle(onnx_bundle(tmp_path, data), verify=False)
    with pytest.raises(BundleError, match=r"tensor 'w' keeps its data in '\.\./secret\.bin', which contains"):
        bundle.artifact_path("onnx-fp32")


def test_shipped_models_have_no_external_data(default_bundle):
    for artifact in default_bundle.select("onnx"):
        assert external_tensors(default_bundle.artifact_path(artifact).read_bytes()) == []


# -- malformed protobuf -------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _deep_model(levels: int) -> bytes:
    graph = b""
    for _ in range(levels):  # Graph.node -> Node.attribute -> Attribute.g -> Graph ...
        graph = _ld(1, _ld(5, _ld(6, graph)))
    return _ld(7, graph)


MALFORMED = {
    "length past the end": (_varint(7 << 3 | 2) + _varint(1 << 32) + b"x" * 16, r"longer than the message"),
    "unknown wire type": (bytes([7 << 3 | 7]), r"wire type 7"),
    "group": (bytes([7 << 3 | 3]), r"wire type 3"),
    "eleven-byte number": (b"\x08" + b"\xff" * 10 + b"\x01", r"longer than ten bytes"),
    "cut number": (b"\x08\xff", r"runs past the end"),
    "field zero": (b"\x00\x01", r"number 0"),
    "cut fixed64": (b"\x09\x01\x02", r"runs past the end"),
    "nested too deep": (_deep_model(MAX_DEPTH // 3 + 2), rf"nested more than {MAX_DEPTH} deep"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_model_is_one_bundle_error(tmp_path, name):
    data, pattern = MALFORMED[name]
    with pytest.raises(MalformedModel, match=pattern):
        external_tensors(data)
    bundle = load_bundle(onnx_bundle(tmp_path, data), verify=False)
    with pytest.raises(BundleError, match=r"model.onnx is not a valid ONNX model \(.*" + pattern) as info:
        bundle.artifact_path("onnx-fp32")
    one_line(info.value)


def test_deep_but_legal_nesting_is_accepted():
    assert external_tensors(_deep_model(MAX_DEPTH // 3 - 1)) == []


def test_truncated_model_with_matching_checksum_is_refused(tmp_path, default_bundle):
    data = (default_bundle.path / "model.onnx").read_bytes()
    root = onnx_bundle(tmp_path, data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"is not a valid ONNX model"):
        Recognizer(model=root, backend="onnxruntime")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_external_tensors_never_crashes(data):
    """Random bytes and damaged real models: a list of tensors or MalformedModel, nothing else."""
    shipped = (default_bundle_path() / "model.int8.onnx").read_bytes()
    if data.draw(st.booleans()):
        buf = data.draw(st.binary(max_size=512))
    else:
        buf = bytearray(shipped[: data.draw(st.integers(0, len(shipped)))])
        for _ in range(data.draw(st.integers(0, 8))):
            if buf:
                buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
        buf = bytes(buf)
    try:
        assert isinstance(external_tensors(buf), list)
    except MalformedModel:
        pass


# -- pickle -------------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@requires_torch
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("container", ["torch.save", "plain pickle"])
def test_pickled_code_in_weights_never_runs(tmp_path, container):
    import pickle

    import torch

    probe, marker = tmp_path / "probe", tmp_path / "marker"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists(), "the payload is not a working attack"
    weights = tmp_path / "weights.pt"
    if container == "torch.save":
        torch.save({"features.0.weight": _Payload(marker)}, weights)
    else:
        weights.write_bytes(pickle.dumps(_Payload(marker)))
    root = make_bundle(
        tmp_path / "bundle", {"weights.pt": weights.read_bytes()}, [("torch-fp32", "torch", "fp32", "weights.pt", ())]
    )
    load_bundle(root, verify=True)  # the checksums match: only the loader can refuse
    with pytest.raises((BundleError, BackendError), match=r"holds pickled objects other than tensors") as info:
        Recognizer(model=root, backend="torch")
    one_line(info.value)
    assert not marker.exists(), "code in the bundle ran"


_PICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve"}


def unsafe_loads(source: str, filename: str = "<source>") -> list[str]:
    """Places in ``source`` that could unpickle: pickling modules, torch.load without
    ``weights_only=True``, np.load with ``allow_pickle`` not False. Parsed with ast, so comments
    and strings cannot hide or fake a call."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in _PICKLERS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root in _PICKLERS or (root in ("torch", "numpy") and any(a.name == "load" for a in node.names)):
                found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            owner = ast.unparse(node.func.value)
            kwargs = {k.arg: k.value for k in node.keywords}
            if owner == "torch":
                safe = isinstance(kwargs.get("weights_only"), ast.Constant) and kwargs["weights_only"].value is True
                if not safe or "pickle_module" in kwargs:
                    found.append(f"{where} torch.load without weights_only=True")
            elif owner in ("np", "numpy"):
                flag = kwargs.get("allow_pickle")
                if len(node.args) > 2 or (
                    flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False)
                ):
                    found.append(f"{where} np.load that may allow pickles")
    return found


def test_the_scanner_sees_code_not_comments():
    clean = (
        "import numpy as np\nimport torch\n# torch.load(p)  and  import pickle\n"
        "s = 'np.load(p, allow_pickle=True)'\n"
        "a = torch.load(p, map_location='cpu', weights_only=True)\nb = np.load(p, allow_pickle=False)\n"
    )
    assert unsafe_loads(clean) == []
    for bad in (
        "import pickle",
        "from pickle import loads",
        "import dill.settings",
        "torch.load(p)",
        "torch.load(p, weights_only=False)",
        "torch.load(p, weights_only=flag)",
        "torch.load(p, weights_only=True, pickle_module=m)",
        "np.load(p, allow_pickle=True)",
        "numpy.load(p, None, True)",
        "from torch import load",
    ):
        assert unsafe_loads(bad), bad


def test_no_pickle_on_any_load_path():
    files = [p for folder in ("edgedigits", "export", "runtimes") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 20
    problems = [f for p in files for f in unsafe_loads(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert problems == []


# -- manifest robustness ------------------------------------------------------------------------------
@pytest.fixture
def small_bundle(tmp_path, default_bundle):
    """The shipped FP32 ONNX model alone, with a manifest the tests then damage."""
    root = tmp_path / "bundle"
    root.mkdir()
    shutil.copyfile(default_bundle.path / "model.onnx", root / "model.onnx")
    manifest = {k: v for k, v in default_bundle.manifest.items() if k != "artifacts"}
    manifest["artifacts"] = [default_bundle.get("onnx-fp32").to_dict()]
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


def _set(path: str, value):
    """A manifest edit setting the dotted ``path`` ('artifacts.0.size') to ``value``."""

    def edit(m):
        *parents, last = path.split(".")
        for key in parents:
            m = m[int(key)] if isinstance(m, list) else m[key]
        m[int(last) if isinstance(m, list) else last] = value

    return edit


MANIFEST_CASES = {
    # name: (edit of the parsed manifest, or the raw text; expected message)
    "not JSON": ('{"schema_version": 1,', r"is not valid JSON"),
    "not UTF-8": (b"\xff\xfe{}", r"is not valid JSON"),
    "a list": ("[1, 2, 3]", r"the top level is \[1, 2, 3\], not an object"),
    "a number": ("42", r"the top level is 42, not an object"),
    "nested very deep": ("[" * 200_000 + "]" * 200_000, r"nest more than 32 levels deep"),
    "nested deep": (_set("training.x", json.loads("[" * 40 + "]" * 40)), r"nest more than 32 levels deep"),
    "schema 99": (_set("schema_version", 99), r"schema version 99, but this edgedigits reads version 1"),
    "schema string": (_set("schema_version", "1"), r"schema version '1', but"),
    "schema true": (_set("schema_version", True), r"schema version True, but"),
    "schema missing": (lambda m: m.pop("schema_version"), r"schema version None, but"),
    "artifacts a number": (_set("artifacts", 3), r"'artifacts' is missing, empty or not a list"),
    "artifacts empty": (_set("artifacts", []), r"'artifacts' is missing, empty or not a list"),
    "artifact a string": (_set("artifacts.0", "model.onnx"), r"artifacts\[0\] is not an object"),
    "companions a number": (_set("artifacts.0.companions", 7), r"artifacts\[0\]\.companions is not a list"),
    "companion a string": (_set("artifacts.0.companions", ["x"]), r"companions\[0\] is not an object"),
    "file a number": (_set("artifacts.0.file", 5), r"artifacts\[0\] lacks a valid 'file'"),
    "file with NUL": (_set("artifacts.0.file", "model.onnx\u0000.txt"), r"is not a plain relative path"),
    "file with backslash": (_set("artifacts.0.file", "..\\x.onnx"), r"is not a plain relative path"),
    "checksum not hex": (_set("artifacts.0.sha256", "z" * 64), r"sha256 is 'zzz.*, not 64 hexadecimal digits"),
    "checksum short": (_set("artifacts.0.sha256", "abc"), r"sha256 is 'abc', not 64 hexadecimal digits"),
    "checksum a number": (_set("artifacts.0.sha256", 12), r"sha256 is 12, not 64 hexadecimal digits"),
    "size a string": (_set("artifacts.0.size", "407271"), r"size is '407271', not a number of bytes"),
    "size negative": (_set("artifacts.0.size", -1), r"size is -1, not a number of bytes"),
    "size a bool": (_set("artifacts.0.size", True), r"size is True, not a number of bytes"),
    "unknown format": (_set("artifacts.0.format", "pickle"), r"unknown format 'pickle' \(known: onnx, openvino"),
    "unknown precision": (_set("artifacts.0.precision", "fp64"), r"unknown precision 'fp64' \(known: fp32"),
    "unknown id": (_set("artifacts.0.id", "evil"), r"has id 'evil', not 'onnx-fp32' as its format and precision"),
    "mismatched id": (_set("artifacts.0.id", "onnx-int8"), r"has id 'onnx-int8', not 'onnx-fp32'"),
    "duplicate id": (lambda m: m["artifacts"].append(dict(m["artifacts"][0])), r"artifacts\[1\] repeats the id"),
    "wrong suffix": (
        lambda m: m["artifacts"][0].update(format="torch", id="torch-fp32"),
        r"torch artifact but its file 'model.onnx' does not end in \.pt",
    ),
    "openvino without weights": (
        lambda m: m["artifacts"][0].update(format="openvino", id="openvino-fp32", file="model.xml"),
        r"does not list its weights file 'model.bin'",
    ),
    "build a list": (_set("artifacts.0.build", [1]), r"artifacts\[0\]\.build is not an object"),
    "accuracy a string": (_set("artifacts.0.accuracy", "high"), r"accuracy is 'high', not a fraction"),
    "accuracy a percent": (_set("artifacts.0.accuracy", 99.6), r"accuracy is 99.6, not a fraction"),
    "model a string": (_set("model", "digitnet_sf"), r"'model' is not an object"),
    "model name a number": (_set("model.name", 3), r"'model\.name' is not a string"),
    "rejection a list": (_set("rejection", [0.5]), r"'rejection' is not an object"),
    "labels a number": (_set("labels", 10), r"'labels' is not a list of 10 names"),
    "labels too few": (_set("labels", ["0", "1"]), r"'labels' is not a list of 10 names"),
}


def _write_case(root: Path, case) -> None:
    if isinstance(case, (str, bytes)):
        (root / MANIFEST).write_bytes(case.encode() if isinstance(case, str) else case)
    else:
        m = json.loads((root / MANIFEST).read_text())
        case(m)
        (root / MANIFEST).write_text(json.dumps(m))


@pytest.mark.parametrize("name", list(MANIFEST_CASES))
def test_bad_manifest_is_one_bundle_error(small_bundle, name):
    case, pattern = MANIFEST_CASES[name]
    _write_case(small_bundle, case)
    with pytest.raises(BundleError, match=pattern) as info:
        load_bundle(small_bundle)
    message = one_line(info.value)
    assert "re-export" in message or "edgedigits release" in message


def test_huge_manifest_is_refused_unread(small_bundle):
    """A 256 MiB (sparse) manifest is refused after reading at most its first MiB."""
    with open(small_bundle / MANIFEST, "r+b") as f:
        f.truncate(256 << 20)
    with pytest.raises(BundleError, match=rf"larger than {MAX_MANIFEST_BYTES // 1024} KiB.*refused without being"):
        load_bundle(small_bundle)
    (small_bundle / MANIFEST).write_text(json.dumps({"schema_version": 1, "pad": " " * MAX_MANIFEST_BYTES}))
    with pytest.raises(BundleError, match=r"larger than 1024 KiB"):
        load_bundle(small_bundle)


def test_manifest_symlink_leaving_the_bundle(small_bundle, tmp_path):
    outside = tmp_path / "elsewhere.json"
    shutil.move(small_bundle / MANIFEST, outside)
    (small_bundle / MANIFEST).symlink_to(outside)
    with pytest.raises(BundleError, match=r"'manifest.json' leads outside the bundle"):
        load_bundle(small_bundle)


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("a list", r"the top level is \[1, 2, 3\]"),
        ("schema 99", r"schema version 99"),
        ("checksum not hex", r"not 64 hexadecimal digits"),
    ],
)
def test_bad_manifest_through_the_cli(small_bundle, tmp_path, name, pattern):
    _write_case(small_bundle, MANIFEST_CASES[name][0])
    assert_cli_refuses(tmp_path, small_bundle, pattern)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = [
    "schema_version",
    "model",
    "model.name",
    "labels",
    "metrics",
    "metrics.mnist_test_accuracy",
    "rejection",
    "rejection.min_confidence",
    "export",
    "artifacts",
    "artifacts.0",
    "artifacts.0.id",
    "artifacts.0.format",
    "artifacts.0.precision",
    "artifacts.0.file",
    "artifacts.0.sha256",
    "artifacts.0.size",
    "artifacts.0.companions",
    "artifacts.0.accuracy",
    "artifacts.0.build",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=_json)
def test_any_manifest_value_loads_or_is_one_bundle_error(small_bundle, field, value):
    """Whatever JSON a field holds, loading (and reading the manifest's facts) works or raises BundleError."""
    from edgedigits.rejection import min_confidence_for

    original = (small_bundle / MANIFEST).read_text()
    try:
        m = json.loads(original)
        _set(field, value)(m)
        (small_bundle / MANIFEST).write_text(json.dumps(m))
        try:
            bundle = load_bundle(small_bundle)
        except BundleError as exc:
            one_line(exc)
            return
        assert isinstance(bundle.model_name, str) and len(bundle.labels) == 10
        assert bundle.test_accuracy is None or isinstance(bundle.test_accuracy, float)
        assert 0.0 <= min_confidence_for(bundle) <= 1.0
        try:
            bundle.verify()
        except EdgeDigitsError as exc:
            one_line(exc)
    finally:
        (small_bundle / MANIFEST).write_text(original)
