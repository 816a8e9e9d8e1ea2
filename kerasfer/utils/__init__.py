"""Utilities: parameter and MAC counting, model tables."""

from kerasfer.utils.params import count_macs
from kerasfer.utils.params import count_params
from kerasfer.utils.params import format_count
from kerasfer.utils.params import markdown_table
from kerasfer.utils.params import model_table
