"""The input-shape check the kerasfer layers share, so that each rejects a wrong input in the same words."""


def feature_map_shape(who, input_shape, *, static_size=False) -> tuple:
    """Returns `input_shape` as a `(B, H, W, C)` tuple; a `ValueError` naming `who` when it is not 4-D.

    With `static_size=True` the height and width must be known too (layers whose weights or
    pooling windows follow the feature-map size).
    """
    if len(input_shape) != 4:
        raise ValueError(f"{who} expects a 4-D (B, H, W, C) input, got shape {tuple(input_shape)}.")
    if static_size and (input_shape[1] is None or input_shape[2] is None):
        raise ValueError(f"{who} needs a static feature-map size, got shape {tuple(input_shape)}.")
    return tuple(input_shape)
