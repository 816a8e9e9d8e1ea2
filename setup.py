"""Package discovery only (metadata lives in setup.cfg).

`tfds_builders/` is a top-level folder of the repository but installs as
`kerasfer.tfds_builders`, so it never claims a generic top-level package name.
"""

from setuptools import find_packages
from setuptools import setup

builders = ["kerasfer.tfds_builders"] + [f"kerasfer.tfds_builders.{p}" for p in find_packages("tfds_builders")]
setup(
    packages=find_packages(include=["kerasfer", "kerasfer.*"]) + builders,
    package_dir={"kerasfer.tfds_builders": "tfds_builders"},
)
