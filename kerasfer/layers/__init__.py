"""kerasfer layers: every block of the source papers as a serializable Keras layer."""

from kerasfer.layers.image_normalization import IMAGENET_MEAN
from kerasfer.layers.image_normalization import IMAGENET_STD
from kerasfer.layers.image_normalization import ImageNormalization
