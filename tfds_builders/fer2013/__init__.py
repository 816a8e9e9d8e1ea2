"""fer2013 dataset."""

from kerasfer.tfds_builders.fer2013.fer2013_dataset_builder import Builder
