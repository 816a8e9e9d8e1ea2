"""kerasfer TFDS builders: importing this package registers every builder with tfds."""
