"""The cumulative-logit link: probabilities sum to 1 and respect the order; the LightGBM loss and the
calibrator are the textbook ones (checked numerically and by recovering known parameters)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from scoring.grades.ordinal import (
    OrdinalCalibrator,
    class_probabilities,
    cumulative,
    initial_thresholds,
    lightgbm_objective,
    median_class,
    rank_score,
)

increasing = st.tuples(st.floats(-6, 2), st.lists(st.floats(0.05, 3), min_size=0, max_size=4)).map(
    lambda t: list(t[0] + np.cumsum([0.0] + t[1]))
)


@settings(max_examples=200, deadline=None)
@given(theta=increasing, eta=st.lists(st.floats(-10, 10), min_size=1, max_size=20), scale=st.floats(0.05, 5))
def test_probabilities_sum_to_one_and_respect_the_order(theta, eta, scale):
    eta = np.array(eta)
    p = class_probabilities(eta, theta, scale)
    assert p.shape == (len(eta), len(theta) + 1)
    assert (p >= -1e-15).all() and np.allclose(p.sum(axis=1), 1.0)
    # a higher risk score moves mass to the worse grades: every P(grade <= k) falls, the median never improves
    order = np.argsort(eta)
    c = cumulative(eta[order], theta, scale)
    assert (np.diff(c, axis=0) <= 1e-15).all()
    assert (np.diff(median_class(eta[order], theta, scale)) >= 0).all()


@settings(max_examples=100, deadline=None)
@given(theta=increasing, eta=st.floats(-8, 8), data=st.data())
def test_lightgbm_objective_is_the_derivative_of_the_log_loss(theta, eta, data):
    k = len(theta) + 1
    y = data.draw(st.integers(0, k - 1))

    class D:
        def get_label(self):
            return np.array([float(y)])

    th = [-np.inf] + list(theta) + [np.inf]

    def loss(e):
        # -log(sigmoid(a) - sigmoid(b)), a = theta_y - e > b = theta_{y-1} - e, in log space (no cancellation)
        a, b = th[y + 1] - e, th[y] - e
        if a == np.inf:
            return np.logaddexp(0, b)
        if b == -np.inf:
            return np.logaddexp(0, -a)
        return -(a + np.log1p(-np.exp(b - a)) - np.logaddexp(0, a) - np.logaddexp(0, b))

    g, h = lightgbm_objective(theta)(np.array([eta]), D())
    eps, eh = 1e-5, 1e-3  # (a larger step for the second difference: p = F_y - F_{y-1} loses digits)
    assert (
        loss(eta) == pytest.approx(-np.log(class_probabilities(np.array([eta]), theta)[0, y]), rel=1e-6, abs=1e-9)
        or loss(eta) > 20
    )  # the direct formula loses digits far in the tails
    if loss(eta) < 30:  # away from probabilities that underflow
        assert g[0] == pytest.approx((loss(eta + eps) - loss(eta - eps)) / (2 * eps), abs=1e-5)
        assert h[0] == pytest.approx((loss(eta + eh) - 2 * loss(eta) + loss(eta - eh)) / eh**2, abs=2e-4, rel=1e-3)
    assert h[0] > 0


def test_two_classes_are_the_binary_log_loss():
    theta = initial_thresholds([0, 0, 0, 1], 2)
    eta = np.linspace(-3, 3, 7)
    p = class_probabilities(eta, theta)
    assert np.allclose(p[:, 1], expit(eta - theta[0]))


def test_calibrator_recovers_known_scale_and_thresholds():
    rng = np.random.default_rng(0)
    eta = rng.normal(size=20_000)
    theta, scale = np.array([-2.0, -0.5, 1.0, 2.5]), 1.7
    latent = scale * eta + rng.logistic(size=eta.size)
    y = np.searchsorted(theta, latent)
    cal = OrdinalCalibrator(5).fit(eta, y)
    assert cal.scale_ == pytest.approx(scale, abs=0.08)
    assert np.allclose(cal.thresholds_, theta, atol=0.1)
    again = OrdinalCalibrator.from_dict(cal.to_dict())
    assert np.array_equal(again.predict_proba(eta[:50]), cal.predict_proba(eta[:50]))
    assert rank_score(y, eta) > 0.4 and rank_score((y > 2).astype(int), eta) > 0.8


def test_a_class_absent_from_the_calibration_fold_gets_no_width_and_the_rest_is_unchanged():
    """A rare grade (差 on a small industry) missing from the fold does not stop the calibration:
    the fit on the classes present is the same, and the absent class gets no probability."""
    import numpy as np

    from scoring.grades.ordinal import OrdinalCalibrator

    rng = np.random.default_rng(3)
    eta = rng.normal(size=900)
    y = np.clip(np.round(eta + rng.normal(scale=0.7, size=900) + 1.5), 0, 3).astype(int)  # no class 4
    five = OrdinalCalibrator(5).fit(eta, y)
    four = OrdinalCalibrator(4).fit(eta, y)
    assert five.scale_ == pytest.approx(four.scale_) and five.thresholds_[:3] == pytest.approx(four.thresholds_)
    p = five.predict_proba(eta)
    assert np.allclose(p.sum(axis=1), 1) and p[:, 4].max() < 1e-9
    np.testing.assert_allclose(p[:, :4], four.predict_proba(eta), atol=1e-9)
    inner = np.where(y == 2, 1, y)  # an interior class absent: zero width
    c = OrdinalCalibrator(5).fit(eta, inner)
    assert c.thresholds_[1] == c.thresholds_[2] and c.predict_proba(eta)[:, 2].max() == 0
    with pytest.raises(ValueError, match="at least two"):  # DataError is a ValueError too
        OrdinalCalibrator(5).fit(eta, np.zeros(900, dtype=int))
