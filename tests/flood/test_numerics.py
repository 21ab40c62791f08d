"""Numerics at default settings: rain-fed tilted plane vs the kinematic wave, convergence.

The plane (S = 0.05, n = 0.015, 100 mm/h, 100 m) runs thin and fast: equilibrium depth 5.8 mm,
speed 0.48 m/s, Froude number 2.0 -- the regime where a depth-only time step oscillates.
Tolerances are explained in docs/flood.md ("Time step", "Validation").
"""

from __future__ import annotations

import numpy as np

from flood_model.solver import LocalInertialSolver

S, N, I_MMH, LENGTH = 0.05, 0.015, 100.0, 100.0
RAIN = I_MMH / 3.6e6  # [m/s]
T_E = (LENGTH * N * RAIN ** (-2 / 3) * S ** -0.5) ** 0.6  # kinematic time to equilibrium [s] (208 s)


def plane_run(dx: float = 2.0, t_end: float = 2 * T_E, alpha: float = 0.5, dt_max: float = 5.0,
              dtype=np.float64) -> tuple[np.ndarray, np.ndarray, LocalInertialSolver]:
    """Outflow per unit width [m2/s] at each step end of a rain-fed plane draining south."""
    ny = round(LENGTH / dx)
    z = np.tile((np.arange(ny)[::-1] + 0.5)[:, None] * dx * S, (1, 3))
    s = LocalInertialSolver(z, dx=dx, manning=N, boundaries={"south": "open"}, alpha=alpha, dt_max=dt_max,
                            dtype=dtype)
    ts, qs = [0.0], [0.0]
    while s.t < t_end - 1e-9:
        r = s.step(min(s.stable_dt(), t_end - s.t), source=RAIN)
        ts.append(s.t)
        qs.append(r.outflow / r.dt / (3 * dx))
    return np.array(ts), np.array(qs), s


def kinematic_q(t: np.ndarray) -> np.ndarray:
    """Kinematic-wave outflow [m2/s]: sqrt(S)/n (i t)^(5/3) before t_e, i L after."""
    return np.minimum(np.sqrt(S) / N * (RAIN * t) ** (5 / 3), RAIN * LENGTH)


def test_tilted_plane_matches_kinematic_wave_at_default_settings():
    t, q, s = plane_run()
    q_eq = RAIN * LENGTH
    late = t > 1.5 * T_E
    # equilibrium discharge i*A within 1 %, no step-to-step oscillation (> 2 %)
    assert abs(q[late].mean() / q_eq - 1) < 0.01
    assert q[late].std() / q_eq < 0.02
    # time to half the equilibrium discharge: kinematic 0.5^(3/5) t_e = 0.66 t_e
    t50 = t[np.argmax(q >= 0.5 * q_eq)]
    assert abs(t50 / (0.5 ** 0.6 * T_E) - 1) < 0.05
    # rising limb shape within 10 % of the equilibrium discharge (the local inertial scheme
    # has a diffusive front the kinematic wave does not)
    rising = t < T_E
    assert np.abs(q[rising] - kinematic_q(t[rising])).max() / q_eq < 0.10
    # no checkerboard: depths along the plane smooth; speeds near the kinematic 0.48 m/s
    h = s.h[:, 1]
    assert np.abs(np.diff(h[5:-2], 2)).max() < 0.1 * h.mean()
    h_e = (q_eq * N / np.sqrt(S)) ** 0.6
    q_cell = 0.5 * np.abs(s.qy[:-1, 1] + s.qy[1:, 1])
    speed = q_cell[h > 1e-3] / h[h > 1e-3]  # thin flow: velocity() ignores depths < 1 cm
    assert speed.max() < 1.3 * q_eq / h_e  # kinematic equilibrium speed 0.48 m/s


def _l1(t_a, q_a, t_ref, q_ref) -> float:
    return float(np.trapezoid(np.abs(np.interp(t_ref, t_a, q_a) - q_ref), t_ref) / np.trapezoid(q_ref, t_ref))


def test_converges_under_grid_refinement():
    t_ref, q_ref, _ = plane_run(dx=0.5)
    errs = [_l1(*plane_run(dx=dx)[:2], t_ref, q_ref) for dx in (4.0, 2.0, 1.0)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.02


def test_converges_under_time_step_refinement():
    t_ref, q_ref, _ = plane_run(alpha=0.0625)
    errs = [_l1(*plane_run(alpha=a)[:2], t_ref, q_ref) for a in (0.5, 0.25, 0.125)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[0] < 0.02
