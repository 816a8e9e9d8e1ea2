"""kerasfer model builders (keras.applications style) and the model registry."""

from kerasfer.models.registry import ModelInfo
from kerasfer.models.registry import create_model
from kerasfer.models.registry import get_model_info
from kerasfer.models.registry import list_models
from kerasfer.models.registry import register_model
