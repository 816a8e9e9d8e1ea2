"""affectnet dataset."""

from kerasfer.tfds_builders.affectnet.affectnet_dataset_builder import Builder
