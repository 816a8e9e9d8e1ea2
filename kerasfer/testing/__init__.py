"""Shared test helpers for kerasfer layers, models and losses (backend-agnostic)."""

from kerasfer.testing.test_case import assert_all_init_params_in_config
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import compute_gradients
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test
from kerasfer.testing.test_case import run_model_saving_test
from kerasfer.testing.test_case import run_serialization_test
