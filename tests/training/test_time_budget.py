"""`TimeBudget`: stop before a wall-clock budget and fit the cosine schedule into the epochs that fit."""

import math

import numpy as np
import pytest

from kerasfer.training import callbacks as cbs
from kerasfer.training.config import TrainConfig


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeModel:
    stop_training = False


def _run(budget_s, max_epochs, epoch_seconds, start_delay=0.0, schedule_config=None):
    """Drives the callback like `fit` would; returns (budget, epochs run, learning rates, end time)."""
    clock = FakeClock()
    budget = cbs.TimeBudget(budget_s, max_epochs, start=0.0, clock=clock)
    budget.set_model(FakeModel())
    schedule = None
    if schedule_config is not None:
        schedule = cbs.epoch_schedule(schedule_config, total_epochs=lambda: budget.planned_epochs)
    clock.now = start_delay  # data loading before fit
    budget.on_train_begin()
    rates, epoch = [], 0
    while epoch < max_epochs and not budget.model.stop_training:
        budget.on_epoch_begin(epoch)
        if schedule is not None:
            rates.append(schedule(epoch))
        clock.now += epoch_seconds(epoch)
        logs = {}
        budget.on_epoch_end(epoch, logs)
        assert logs["planned_epochs"] == budget.planned_epochs
        epoch += 1
    return budget, epoch, rates, clock.now


def test_stops_inside_the_budget_and_anneals_the_cosine_over_the_epochs_that_fit():
    config = TrainConfig(schedule="cosine", learning_rate=0.1, min_lr=0.0, epochs=40, warmup_epochs=1)
    # 20 s of loading, a first epoch of 30 s (compilation), then 10 s epochs, in a 300 s budget
    budget, run, rates, end = _run(300, 40, lambda e: 30.0 if e == 0 else 10.0, 20.0, config)
    assert end <= 300 and budget.stopped_early
    assert run == 25  # 20 + 30 + 24 * 10 = 290 s; one more epoch needs 11 s with the 10% spare, and 10 s are left
    assert budget.planned_epochs == run
    # warm-up done, each epoch gets the cosine at its midpoint over the epochs planned after it (the first
    # plan, from the 30 s compile epoch, is 8 epochs; the final one 25)
    assert rates[1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.5 / 7)), rel=1e-6)
    assert rates[-1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 23.5 / 24)), rel=1e-6)
    assert 0 < rates[-1] < 1e-3  # the last epoch that fitted runs close to min_lr, not at it
    # once the plan has settled (from epoch 2: the first estimate includes compilation) it never goes back up
    assert all(b <= a + 1e-12 for a, b in zip(rates[2:], rates[3:], strict=False))


def test_plan_never_exceeds_the_configured_epochs_and_a_roomy_budget_changes_nothing():
    budget, run, _, _ = _run(10_000, 5, lambda e: 1.0)
    assert run == 5 and budget.planned_epochs == 5 and not budget.stopped_early


def test_a_completed_cycle_is_not_extended_when_epochs_speed_up():
    config = TrainConfig(schedule="cosine", learning_rate=0.1, min_lr=0.0, epochs=40, warmup_epochs=1)
    # 100 s epochs plan 4 of a 450 s budget; the last planned epoch takes 5 s, which would leave room for more
    budget, run, rates, _ = _run(450, 40, lambda e: 5.0 if e == 3 else 100.0, 0.0, config)
    assert run == 4 and budget.planned_epochs == 4 and budget.stopped_early
    assert rates == pytest.approx([0.1 / 2] + [0.05 * (1 + math.cos(math.pi * (e + 0.5) / 3)) for e in range(3)])


def test_a_two_epoch_plan_trains_both_epochs_at_useful_rates():
    """A budget that fits 2 epochs used to spend the second at min_lr (0): half the run wasted."""
    config = TrainConfig(schedule="cosine", learning_rate=0.01, min_lr=0.0, epochs=40, warmup_epochs=0)
    budget, run, rates, _ = _run(250, 40, lambda e: 100.0, 0.0, config)
    assert run == 2 and budget.planned_epochs == 2
    # the first epoch runs before any plan (over the configured 40 epochs), the second on the plan of 2
    assert rates == pytest.approx([0.005 * (1 + math.cos(math.pi / 80)), 0.005 * (1 - math.cos(math.pi / 4))])
    assert min(rates) > 0.1 * 0.01


def test_over_budget_after_the_first_epoch_stops_at_once():
    budget, run, _, _ = _run(5, 10, lambda e: 60.0)
    assert run == 1 and budget.stopped_early


def test_bad_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="budget_s"):
        cbs.TimeBudget(0, 3)
    with pytest.raises(ValueError, match="time_budget_minutes"):
        TrainConfig(time_budget_minutes=-1)
    with pytest.raises(ValueError, match="time_budget_minutes"):
        TrainConfig(time_budget_minutes=math.nan)


def test_a_schedule_that_ends_at_zero_trains_its_last_epoch():
    """A budgeted cosine with min_lr=0 reaches 0 on the last planned epoch: that epoch runs (it used to raise
    "The learning-rate schedule gave 0.0" and lose the run's model.keras); only negative or NaN rates fail."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    rates = [0.1, 0.0]
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0,
              callbacks=[cbs.EpochLearningRate(lambda e: rates[e])])  # fmt: skip
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == 0.0
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="learning-rate schedule gave"):
            model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0,
                      callbacks=[cbs.EpochLearningRate(lambda e, bad=bad: bad)])  # fmt: skip
