"""kerasfer losses: the source papers' losses as `keras.losses.Loss` classes and functions."""
