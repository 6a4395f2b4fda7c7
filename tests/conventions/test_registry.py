"""Detection, ambiguity, forcing and target loading (seldon_py.conventions)."""

from __future__ import annotations

import logging
import sys

import pytest

from seldon_py import conventions
from seldon_py.conventions import ConventionError, Target, detect, load_target, resolve, select, shims
from seldon_py.model.loader import StartupError, load_user_object

from .helpers import adapted, target, write_module

SELDON = """
class Model:
    def predict(self, X, names):
        return X
"""

VESSL = """
import vessl

class Runner(vessl.RunnerBase):
    @staticmethod
    def predict(model, data):
        return data
"""

RAFIKI = """
from rafiki.model import BaseModel, IntegerKnob

class Clf(BaseModel):
    @staticmethod
    def get_knob_config():
        return {"k": IntegerKnob(1, 3)}

    def __init__(self, **knobs):
        self.k = knobs["k"]

    def train(self, dataset_path, **kw): ...
    def evaluate(self, dataset_path): ...
    def predict(self, queries):
        return [q for q in queries]
    def dump_parameters(self): ...
    def load_parameters(self, params): ...
"""

STARWHALE = """
from starwhale import evaluation

@evaluation.predict
def predict_text(data):
    return data["text"].upper()
"""

# static predict(model, data) + load_model (VESSL's shape) and get_knob_config + load_parameters +
# a two-positional predict (Rafiki's shape): both conventions claim it
AMBIGUOUS = """
class Both:
    @staticmethod
    def get_knob_config():
        return {}

    def load_parameters(self, params): ...

    @staticmethod
    def load_model(props, artifacts):
        return None

    @staticmethod
    def predict(model, data):
        return data
"""


def test_a_plain_seldon_class_takes_the_seldon_path(tmp_path):
    t = target(tmp_path, SELDON, "Model")
    assert select(t) is None
    assert resolve(t.spec, {}, "auto", str(tmp_path)).convention is None


@pytest.mark.parametrize("source,attr,name", [
    (VESSL, "Runner", "vessl"), (RAFIKI, "Clf", "rafiki"),
    (STARWHALE, "predict_text", "starwhale"), (STARWHALE, None, "starwhale"),
    (VESSL, None, "vessl"), (RAFIKI, None, "rafiki"),
])
def test_each_convention_is_detected(tmp_path, source, attr, name):
    convention = select(target(tmp_path, source, attr))
    assert convention is not None and convention.name == name


def test_detection_is_logged_at_start_up(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="seldon_py.conventions"):
        r = adapted(tmp_path, STARWHALE, "predict_text")
    assert r.convention.name == "starwhale"
    assert f"serving {r.target.spec} as a starwhale model" in caplog.text


def test_a_target_matching_two_conventions_is_a_clear_error(tmp_path):
    t = target(tmp_path, AMBIGUOUS, "Both")
    with pytest.raises(ConventionError) as err:
        select(t)
    msg = str(err.value)
    assert "matches more than one model convention (vessl, rafiki)" in msg
    assert "--model-convention" in msg and "\n" not in msg


def test_forcing_picks_one_of_several_or_the_seldon_path(tmp_path):
    t = target(tmp_path, AMBIGUOUS, "Both")
    assert select(t, "vessl").name == "vessl"
    assert select(t, "RAFIKI").name == "rafiki"
    assert select(t, "seldon") is None
    v = target(tmp_path, VESSL, "Runner")
    assert select(v, "seldon") is None  # a runner served as a Seldon class, if the user says so


def test_forcing_a_convention_the_target_is_not_written_for(tmp_path):
    t = target(tmp_path, SELDON, "Model")
    with pytest.raises(ConventionError, match=r"--model-convention rafiki: .* is not a rafiki model"):
        select(t, "rafiki")
    with pytest.raises(ConventionError, match="is not one of"):
        select(t, "onnx")


def test_forcing_an_absent_convention(tmp_path):
    t = target(tmp_path, SELDON, "Model")
    with pytest.raises(ConventionError, match="not installed here"):
        select(t, "torchserve", conventions=[c for c in conventions.available() if c.name != "torchserve"])


class _Fake:
    def __init__(self, name, answer):
        self.name, self.answer = name, answer

    def detect(self, target):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def adapt(self, target, parameters):
        return object()


def test_detect_with_given_conventions_and_a_failing_detector(caplog):
    t = Target(spec="x")
    assert detect(t, [_Fake("a", False), _Fake("b", True)]).name == "b"
    assert detect(t, [_Fake("a", False)]) is None
    with caplog.at_level(logging.WARNING):
        assert detect(t, [_Fake("a", RuntimeError("bad")), _Fake("b", True)]).name == "b"
    assert "as a a model failed: RuntimeError: bad" in caplog.text
    with pytest.raises(ConventionError, match=r"\(a, b\)"):
        detect(t, [_Fake("a", True), _Fake("b", True)])


def test_torchserve_is_offered_only_when_its_subpackage_exists():
    names = [c.name for c in conventions.available()]
    assert names[-3:] == ["vessl", "rafiki", "starwhale"]
    try:
        import seldon_py.conventions.torchserve  # noqa: F401
    except ModuleNotFoundError:
        assert "torchserve" not in names
    else:
        assert names[0] == "torchserve"


# ----------------------------------------------------------------------------- targets
def test_target_forms(tmp_path):
    m = write_module(tmp_path, "def handle(data, context):\n    return data\nclass K:\n    pass\n")
    t = load_target(m, str(tmp_path))
    assert t.module.__name__ == m and t.attr is None and t.path is None
    t = load_target(f"{m}.handle", str(tmp_path))
    assert t.module.__name__ == m and t.attr.__name__ == "handle"
    pkg = tmp_path / "pkg_targets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "handler.py").write_text("def handle(data, context):\n    return data\n")
    t = load_target("pkg_targets.handler", str(tmp_path))
    assert t.module.__name__ == "pkg_targets.handler" and t.attr is None
    (tmp_path / "model.mar").write_bytes(b"PK")
    assert load_target("model.mar", str(tmp_path)).path == (tmp_path / "model.mar").resolve()
    (tmp_path / "folder").mkdir()
    assert load_target("folder", str(tmp_path)).path == (tmp_path / "folder").resolve()
    assert load_target(str(tmp_path / "folder"), "/").path == (tmp_path / "folder").resolve()
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "file_target_mod.py").write_text("from starwhale import evaluation\n\n@evaluation.predict\ndef f(data):\n"
                                           "    return 1\n")
    t = load_target("sub/file_target_mod.py", str(tmp_path))
    assert t.module.__name__ == "file_target_mod" and t.attr is None and t.path is None
    assert select(t).name == "starwhale"
    with pytest.raises(ConventionError, match="no such file or folder"):
        load_target("absent.py", str(tmp_path))


def test_target_errors_are_one_line(tmp_path):
    with pytest.raises(ConventionError, match="no such file or folder"):
        load_target("missing.mar", str(tmp_path))
    with pytest.raises(ConventionError, match="cannot import module 'nosuchmodule_xyz'.*no such module"):
        load_target("nosuchmodule_xyz", str(tmp_path))
    with pytest.raises(ConventionError, match="cannot import module 'nosuchmodule_xyz' for 'nosuchmodule_xyz.Model'"):
        load_target("nosuchmodule_xyz.Model", str(tmp_path))
    m = write_module(tmp_path, "import nosuchdependency_xyz\n")
    with pytest.raises(ConventionError, match=f"importing '{m}' failed: No module named 'nosuchdependency_xyz'"):
        load_target(m, str(tmp_path))
    m = write_module(tmp_path, "raise ValueError('bad model file')\n")
    with pytest.raises(ConventionError, match="ValueError: bad model file"):
        load_target(f"{m}.X", str(tmp_path))
    (tmp_path / "emptyfolder").mkdir()
    with pytest.raises(ConventionError, match="no model convention recognises this folder"):
        resolve("emptyfolder", {}, "auto", str(tmp_path))
    m = write_module(tmp_path, "x = 1\n")
    with pytest.raises(ConventionError, match=f"module '{m}' has no class 'Y'"):
        resolve(f"{m}.Y", {}, "auto", str(tmp_path))


def test_the_loader_hook_builds_seldon_classes_and_adapts_the_rest(tmp_path):
    m = write_module(tmp_path, SELDON.replace("class Model", "class Model:\n    def __init__(self, a=0):\n"
                                              "        self.a = a\nclass Model2"))
    user = load_user_object(f"{m}.Model", {"a": 3}, "auto", str(tmp_path))
    assert user.a == 3
    r = write_module(tmp_path, VESSL)
    assert type(load_user_object(f"{r}.Runner", {}, "auto", str(tmp_path))).__name__ == "VesslModel"
    with pytest.raises(StartupError, match="unknown parameter"):
        load_user_object(f"{r}.Runner", {"a": 3}, "auto", str(tmp_path))
    with pytest.raises(StartupError, match="is not a class"):
        load_user_object(f"{write_module(tmp_path, 'X = 3')}.X", {}, "auto", str(tmp_path))


# ----------------------------------------------------------------------------- stand-ins
def test_stand_ins_serve_only_their_names_and_only_when_the_package_is_absent(tmp_path):
    m = write_module(tmp_path, "from rafiki.model import BaseModel, FixedKnob\nfrom rafiki.constants import TaskType\n")
    load_target(m, str(tmp_path))
    assert shims.installed("rafiki")
    assert sum(isinstance(f, shims.ShimFinder) and f.root == "rafiki" for f in sys.meta_path) == 1
    m = write_module(tmp_path, "import rafiki.worker\n")
    with pytest.raises(ConventionError, match="No module named 'rafiki.worker'"):
        load_target(m, str(tmp_path))
    # no stand-in for anything else
    m = write_module(tmp_path, "import tensorflow_nonexistent_xyz\n")
    with pytest.raises(ConventionError):
        load_target(m, str(tmp_path))
    assert not any(isinstance(f, shims.ShimFinder) and f.root == "tensorflow_nonexistent_xyz" for f in sys.meta_path)
    with pytest.raises(ValueError):
        shims.ShimFinder("numpy")


def test_the_shim_finder_defers_to_installed_packages():
    finder = shims.ShimFinder("vessl")
    assert finder.find_spec("numpy") is None
    assert finder.find_spec("vessl.nothing_here") is None
    assert finder.find_spec("vessl").origin.endswith("shims/vessl/__init__.py")
    # it is appended: the normal path finders come first, so an installed package wins
    shims.install("vessl")
    from importlib.machinery import PathFinder
    order = [type(f) if not isinstance(f, type) else f for f in sys.meta_path]
    assert order.index(PathFinder) < max(i for i, f in enumerate(sys.meta_path) if isinstance(f, shims.ShimFinder))


# ----------------------------------------------------------------------------- real packages
def _really_installed(name: str) -> bool:
    from importlib.machinery import PathFinder
    return PathFinder.find_spec(name) is not None


@pytest.mark.skipif(not _really_installed("vessl"), reason="the vessl SDK is not installed")
def test_with_the_real_vessl_sdk_its_runnerbase_is_used(tmp_path):
    r = adapted(tmp_path, VESSL, "Runner")
    from seldon_py.conventions._common import find_base
    assert find_base(r.target.attr, "RunnerBase").__module__ == "vessl.service"
    assert not shims.installed("vessl")


@pytest.mark.skipif(not _really_installed("starwhale"), reason="starwhale is not installed")
def test_with_the_real_starwhale_its_decorator_and_options_are_used(tmp_path):
    src = STARWHALE.replace("@evaluation.predict\n", "@evaluation.predict(batch_size=3)\n")
    r = adapted(tmp_path, src, "predict_text")
    assert not shims.installed("starwhale")
    assert r.user.batch_size == 3  # read from Starwhale's own handler registry


@pytest.mark.skipif(not _really_installed("singa_auto"), reason="singa-auto is not installed")
def test_with_the_real_singa_auto_its_basemodel_is_used(tmp_path):
    r = adapted(tmp_path, RAFIKI.replace("rafiki.model", "singa_auto.model"), "Clf", {"knobs": {"k": 2}})
    from seldon_py.conventions._common import find_base
    assert find_base(r.target.attr, "BaseModel").__module__ == "singa_auto.model.model"
    assert not shims.installed("singa_auto")


def test_results_are_shaped_for_seldon_responses():
    import numpy as np

    from seldon_py.conventions._common import as_seldon_result, plain

    arr = np.array([[1.0, 2.0]])
    assert as_seldon_result(arr) is arr
    assert as_seldon_result({"p": np.array([1, 2]), "s": np.float32(0.5), "t": (1, 2)}) == {"p": [1, 2], "s": 0.5,
                                                                                          "t": [1, 2]}
    assert as_seldon_result(np.int64(3)) == [3] and as_seldon_result(None) == [None]
    assert as_seldon_result("x") == "x" and as_seldon_result(b"x") == b"x"
    assert as_seldon_result(np.array(["a", "b"])) == ["a", "b"]
    assert plain([np.array([1]), {"k": np.bool_(True)}]) == [[1], {"k": True}]


def test_a_module_target_serves_its_one_class(tmp_path):
    r = adapted(tmp_path, VESSL, None)
    assert r.convention.name == "vessl" and r.user.runner.__name__ == "Runner"
    two = VESSL + VESSL.split("\n", 3)[3].replace("class Runner", "class Runner2")
    with pytest.raises(ConventionError, match=r"defines 2 VESSL runner classes \(Runner, Runner2\)"):
        adapted(tmp_path, two, None)
    r = adapted(tmp_path, RAFIKI, None, {"knobs": {"k": 1}})
    assert r.convention.name == "rafiki" and r.user.cls.__name__ == "Clf"
