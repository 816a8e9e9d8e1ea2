"""sfew dataset."""

from kerasfer.tfds_builders.sfew.sfew_dataset_builder import Builder
