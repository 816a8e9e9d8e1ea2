"""kerasfer layers: every block of the source papers as a serializable Keras layer."""

import kerasfer as _kerasfer
from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.batch_norm import PReLU
from kerasfer.layers.cbam import CBAM
from kerasfer.layers.channel_shuffle import ChannelShuffle
from kerasfer.layers.conv2d_bn import Conv2dBN
from kerasfer.layers.coordinate_attention import CoordinateAttention
from kerasfer.layers.gdconv import GDConv
from kerasfer.layers.image_normalization import IMAGENET_MEAN
from kerasfer.layers.image_normalization import IMAGENET_STD
from kerasfer.layers.image_normalization import ImageNormalization
from kerasfer.layers.masking_block import BasicBlock
from kerasfer.layers.masking_block import MaskingBlock
from kerasfer.layers.mish_head import MishHead
from kerasfer.layers.mix_bottleneck import MixBottleneck
from kerasfer.layers.mix_conv import MixConv
from kerasfer.layers.pdwres import PDWRes
from kerasfer.layers.repvgg_dw import RepVGGDW
from kerasfer.layers.roi_align import RoIAlign
from kerasfer.layers.spatial_bias import SpatialBias
from kerasfer.layers.upsampling import NearestUpsampling2D

_kerasfer.register_keras_objects()  # importing one part registers all serializable classes
