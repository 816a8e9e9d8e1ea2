"""kerasfer TFDS builders: importing this package registers every builder with tfds.

`import kerasfer` installs a hook (`kerasfer/_tfds_hook.py`) that imports this package right
after `tensorflow_datasets`, so `tfds.load("fer2013")` works without `import kerasfer`
importing TFDS itself.
"""

import sys


def _restore_tfds_loader():
    # The import hook wraps TFDS's module loader; importlib.resources (which TFDS uses for
    # its own files: checksums, dataset lists) needs the real loader's resource reader.
    tfds_mod = sys.modules.get("tensorflow_datasets")
    spec = getattr(tfds_mod, "__spec__", None)
    wrapped = getattr(getattr(spec, "loader", None), "_wrapped", None)
    if wrapped is not None:
        spec.loader = wrapped
        tfds_mod.__loader__ = wrapped


_restore_tfds_loader()

from kerasfer.tfds_builders.affectnet import affectnet_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.ck_plus import ck_plus_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.fer2013 import fer2013_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.ferplus import ferplus_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.jaffe import jaffe_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.oulu_casia import oulu_casia_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.raf_db import raf_db_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.sfew import sfew_dataset_builder  # noqa: E402
from kerasfer.tfds_builders.synthetic_faces import synthetic_faces_dataset_builder  # noqa: E402

_restore_tfds_loader()  # again: importing the builders may be what imported TFDS
