"""ferplus dataset."""

from kerasfer.tfds_builders.ferplus.ferplus_dataset_builder import Builder
