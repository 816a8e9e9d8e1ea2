"""synthetic_faces dataset."""

from kerasfer.tfds_builders.synthetic_faces.synthetic_faces_dataset_builder import Builder
