"""Repository-wide pytest set-up: backend default, markers, --run-large."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

_MULTIBACKEND_DIRS = (
    os.path.join("tests", "layers"),
    os.path.join("tests", "models"),
    os.path.join("tests", "losses"),
)


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", default=False, help="run tests marked large")


def pytest_collection_modifyitems(config, items):
    import keras

    backend = keras.backend.backend()
    run_large = config.getoption("--run-large")
    skip_large = pytest.mark.skip(reason="large test: pass --run-large")
    skip_slow_jax = pytest.mark.skip(reason="slow on the JAX CPU backend (covered on TensorFlow): pass --run-large")
    skip_tf = pytest.mark.skip(reason=f"needs the TensorFlow backend (running on {backend})")
    for item in items:
        path = str(item.fspath)
        if any(d in path for d in _MULTIBACKEND_DIRS):
            item.add_marker(pytest.mark.multibackend)
        if "large" in item.keywords and not run_large:
            item.add_marker(skip_large)
        if "tf_only" in item.keywords and backend != "tensorflow":
            item.add_marker(skip_tf)
        if "slow_on_jax" in item.keywords and backend == "jax" and not run_large:
            item.add_marker(skip_slow_jax)


TOOLS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools")


@pytest.fixture(scope="session")
def load_tool():
    """`load_tool("package_weights")` imports `tools/package_weights.py` afresh (the tools are scripts, not a
    package; a fresh module per call keeps one test's changes to it from reaching another)."""
    import importlib.util

    def load(name):
        spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS_DIR, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(autouse=True)
def _seed_and_clear():
    import keras

    keras.utils.set_random_seed(0)
    yield
    # Without the garbage collection, which costs about a second per test; it runs once per module below.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_per_module():
    yield
    import gc

    gc.collect()
