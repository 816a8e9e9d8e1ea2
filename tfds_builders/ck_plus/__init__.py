"""ck_plus dataset."""

from kerasfer.tfds_builders.ck_plus.ck_plus_dataset_builder import Builder
