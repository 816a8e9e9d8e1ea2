"""The input-shape check the layers share (`kerasfer.layers._shapes.feature_map_shape`)."""

import pytest

from kerasfer.layers import CoordinateAttention
from kerasfer.layers import GDConv
from kerasfer.layers import SpatialBias
from kerasfer.layers._shapes import feature_map_shape


def test_feature_map_shape():
    assert feature_map_shape("layer", [None, 7, 7, 8]) == (None, 7, 7, 8)
    assert feature_map_shape("layer", (2, None, None, 8)) == (2, None, None, 8)
    with pytest.raises(ValueError, match=r"^layer expects a 4-D \(B, H, W, C\) input, got shape \(2, 8\)\.$"):
        feature_map_shape("layer", (2, 8))
    with pytest.raises(ValueError, match=r"^layer needs a static feature-map size, got shape \(2, None, 7, 8\)\.$"):
        feature_map_shape("layer", (2, None, 7, 8), static_size=True)


@pytest.mark.parametrize("layer", [CoordinateAttention, GDConv, SpatialBias])
def test_layers_following_the_map_size_need_it(layer):
    with pytest.raises(ValueError, match="needs a static feature-map size"):
        layer(name="probe").build((None, None, None, 16))
