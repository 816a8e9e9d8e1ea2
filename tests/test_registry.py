import pytest

from kerasfer import models


def test_unknown_model_error_lists_models():
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        models.create_model("nope")


def test_register_and_create():
    calls = []

    @models.register_model("_test_dummy", input_shape=(8, 8, 1), family="_test")
    def dummy(**kwargs):
        calls.append(kwargs)
        return "built"

    try:
        assert "_test_dummy" in models.list_models()
        assert models.list_models(family="_test") == ["_test_dummy"]
        assert models.create_model("_TEST_DUMMY", num_classes=3) == "built"
        assert calls == [{"num_classes": 3}]
        assert models.get_model_info("_test_dummy").input_shape == (8, 8, 1)
        with pytest.raises(ValueError, match="already registered"):
            models.register_model("_test_dummy", input_shape=(8, 8, 1), family="_test")(lambda: None)
    finally:
        models.registry._REGISTRY.pop("_test_dummy", None)


def test_every_registered_builder_defaults_to_its_key():
    for name in models.list_models():
        info = models.get_model_info(name)
        assert info.name == name == name.lower()
        assert len(info.input_shape) == 3
