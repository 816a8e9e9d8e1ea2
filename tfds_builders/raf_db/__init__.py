"""raf_db dataset."""

from kerasfer.tfds_builders.raf_db.raf_db_dataset_builder import Builder
