"""kerasfer model builders (keras.applications style) and the model registry."""

import kerasfer as _kerasfer
from kerasfer.models.lfnsb import LFN
from kerasfer.models.lfnsb import LFNSB
from kerasfer.models.lfnsb import MFN
from kerasfer.models.lfnsb import MobileFaceNet
from kerasfer.models.loading import TrainedModel
from kerasfer.models.loading import load_trained
from kerasfer.models.multiscale import MultiScaleFER
from kerasfer.models.registry import ModelInfo
from kerasfer.models.registry import create_model
from kerasfer.models.registry import get_model_info
from kerasfer.models.registry import list_models
from kerasfer.models.registry import register_model
from kerasfer.models.resmasking import ResMaskingNet
from kerasfer.models.resmasking import ResMaskingNet18
from kerasfer.models.resmasking import ResMaskingReconstructionNet
from kerasfer.models.resnet import ResNet
from kerasfer.models.resnet import ResNet18
from kerasfer.models.resnet import ResNet18Small
from kerasfer.models.resnet import ResNet34
from kerasfer.models.resnet import ResNet50
from kerasfer.models.resnet import ResNet50Teacher
from kerasfer.models.sdnet import SDNet
from kerasfer.models.shufflenet import LFERLDL
from kerasfer.models.shufflenet import ShuffleNetV2
from kerasfer.models.shufflenet import ShuffleNetV2x0_5
from kerasfer.models.shufflenet import ShuffleNetV2x1_0
from kerasfer.models.shufflenet import ShuffleNetV2x1_5
from kerasfer.models.shufflenet import ShuffleNetV2x2_0

_kerasfer.register_keras_objects()  # importing one part registers all serializable classes
