"""Registration of kerasfer objects with Keras serialization."""

import keras


def kerasfer_export(path):
    """Registers a class or function as serializable under the `kerasfer` package.

    Args:
        path: the public path of the object, e.g. `"kerasfer.layers.Conv2dBN"`. Only
            the last segment is used as the registered name, so configs read
            `"kerasfer>Conv2dBN"`.
    """

    def decorator(obj):
        name = path.rsplit(".", 1)[-1]
        return keras.saving.register_keras_serializable(package="kerasfer", name=name)(obj)

    return decorator
