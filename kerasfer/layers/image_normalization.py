"""Input normalisation inside the model, so every caller feeds raw pixels."""

import keras

from kerasfer.api_export import kerasfer_export

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def channel_stats(mean, std, channels):
    """Per-channel `(mean, std)` lists for a `channels`-channel input.

    A grayscale (1-channel) input of a model whose statistics are per RGB channel uses
    their averages (ImageNet: mean 0.449, std 0.226), as torchvision's `Grayscale` +
    single-channel normalisation do.
    """
    mean = list(mean) if isinstance(mean, list | tuple) else [float(mean)]
    std = list(std) if isinstance(std, list | tuple) else [float(std)]
    if channels == 1 and len(mean) > 1:
        mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
    return mean, std


@kerasfer_export("kerasfer.layers.ImageNormalization")
class ImageNormalization(keras.layers.Layer):
    """Maps raw pixels in [0, 255] to the normalised input a model was designed for.

    Computes `(x * scale - mean) / std` per channel, folded into one multiply and one
    add (two TFLite ops the GPU delegate accepts). Every kerasfer model starts with this
    layer, so training, evaluation, export and prediction all feed the same raw
    `[0, 255]` pixels and cannot disagree on normalisation.

    Args:
        mean: per-channel mean after scaling (a float or one value per channel).
        std: per-channel standard deviation after scaling.
        scale: the factor applied first (default `1/255`).

    Example:
    >>> layer = kerasfer.layers.ImageNormalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    >>> layer(np.full((1, 4, 4, 3), 255.0)).shape
    (1, 4, 4, 3)
    """

    def __init__(self, mean=0.0, std=1.0, scale=1.0 / 255.0, **kwargs):
        super().__init__(**kwargs)
        self.mean = list(mean) if isinstance(mean, list | tuple) else float(mean)
        self.std = list(std) if isinstance(std, list | tuple) else float(std)
        self.scale = float(scale)
        std_values = self.std if isinstance(self.std, list) else [self.std]
        if any(s <= 0 for s in std_values):
            raise ValueError(f"std must be positive, got {self.std}.")

    def build(self, input_shape):
        channels = input_shape[-1]
        for arg in ("mean", "std"):
            value = getattr(self, arg)
            if isinstance(value, list) and len(value) not in (1, channels):
                raise ValueError(f"{arg} has {len(value)} values but the input has {channels} channels.")

    def _constants(self, channels):
        mean = self.mean if isinstance(self.mean, list) else [self.mean]
        std = self.std if isinstance(self.std, list) else [self.std]
        if len(mean) == 1:
            mean = mean * channels
        if len(std) == 1:
            std = std * channels
        mul = [self.scale / s for s in std]
        add = [-m / s for m, s in zip(mean, std)]
        return mul, add

    def call(self, inputs):
        mul, add = self._constants(inputs.shape[-1])
        x = keras.ops.cast(inputs, self.compute_dtype)
        mul = keras.ops.convert_to_tensor(mul, dtype=self.compute_dtype)
        add = keras.ops.convert_to_tensor(add, dtype=self.compute_dtype)
        return x * mul + add

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": self.mean, "std": self.std, "scale": self.scale})
        return config
