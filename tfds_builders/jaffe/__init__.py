"""jaffe dataset."""

from kerasfer.tfds_builders.jaffe.jaffe_dataset_builder import Builder
