"""Package discovery only (metadata lives in setup.cfg).

`tfds_builders/` is a top-level folder of the repository but installs as
`kerasfer.tfds_builders`, so it never claims a generic top-level package name. The builders'
test modules (`*_test.py`, run by the project's own test suite) and their `dummy_data/`
stay out of wheels.
"""

from setuptools import find_packages
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithoutTests(build_py):
    """Leaves the TFDS builders' `*_test.py` modules out of built packages."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not m[1].endswith("_test")]


builders = ["kerasfer.tfds_builders"] + [f"kerasfer.tfds_builders.{p}" for p in find_packages("tfds_builders")]
setup(
    packages=find_packages(include=["kerasfer", "kerasfer.*"]) + builders,
    package_dir={"kerasfer.tfds_builders": "tfds_builders"},
    cmdclass={"build_py": BuildPyWithoutTests},
)
