"""oulu_casia dataset."""

from kerasfer.tfds_builders.oulu_casia.oulu_casia_dataset_builder import Builder
