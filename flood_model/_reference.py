"""Plain-numpy twin of :mod:`flood_model._kernels` (test oracle, private).

Same equations and array layout, written with whole-array operations and the
exact power ``h ** (7/3)``. Slow (~10 M cell-updates/s) but easy to read; the
tests require the numba kernels to agree with it.
"""

from __future__ import annotations

import numpy as np

from flood_model import _kernels as K


def flux(h, qx, qy, qx_new, qy_new, dzx, dzy, mx, my, n2, n2_uniform, P, ustats):
    """Whole-array twin of :func:`flood_model._kernels.flux_kernel` (one chunk of ``ustats``)."""
    ny, nx = h.shape
    theta, th2, hmin = P[K.P_THETA], P[K.P_THETA2], P[K.P_HMIN]
    gdt = P[K.P_GDT]
    zero = P[K.P_ZERO]
    # x-faces 1..nx-1
    ha, hb, dz = h[:, :-1], h[:, 1:], dzx[:, 1:nx]
    hf = np.maximum(ha - np.maximum(dz, zero), hb - np.maximum(-dz, zero))
    x = np.maximum(hf, hmin)
    q0 = qx[:, 1:nx]
    qbar = theta * q0 + th2 * (qx[:, 0:nx - 1] + qx[:, 2:nx + 1])
    nf = P[K.P_N2] if n2_uniform else 0.5 * (n2[:, :-1] + n2[:, 1:])
    q = (qbar - P[K.P_GDTDX] * x * (dz + hb - ha)) / (1 + gdt * nf * np.abs(q0) / x ** (7.0 / 3.0))
    qx_new[:, 1:nx] = np.where((x > hmin) & (mx[:, 1:nx] != 0), q, zero)
    u = np.abs(qx_new[:, 1:nx]) / x
    um = u.max(initial=0.0)
    sm = np.where(qx_new[:, 1:nx] != 0, np.abs(dz + hb - ha), zero).max(initial=0.0)
    qx_new[:, 0] = 0
    qx_new[:, nx] = 0
    # y-faces 1..ny-1
    ha, hb, dz = h[:-1, :], h[1:, :], dzy[1:ny, :]
    hf = np.maximum(ha - np.maximum(dz, zero), hb - np.maximum(-dz, zero))
    x = np.maximum(hf, hmin)
    q0 = qy[1:ny, :]
    qbar = theta * q0 + th2 * (qy[0:ny - 1, :] + qy[2:ny + 1, :])
    nf = P[K.P_N2] if n2_uniform else 0.5 * (n2[:-1, :] + n2[1:, :])
    q = (qbar - P[K.P_GDTDY] * x * (dz + hb - ha)) / (1 + gdt * nf * np.abs(q0) / x ** (7.0 / 3.0))
    qy_new[1:ny, :] = np.where((x > hmin) & (my[1:ny, :] != 0), q, zero)
    u = np.abs(qy_new[1:ny, :]) / x
    ustats[:] = 0
    ustats[0, 0] = max(um, u.max(initial=0.0))
    ustats[0, 1] = max(sm, np.where(qy_new[1:ny, :] != 0, np.abs(dz + hb - ha), zero).max(initial=0.0))
    qy_new[0, :] = 0
    qy_new[ny, :] = 0


def depth(h, qx, qy, act, src, src_uniform, loss, loss_uniform, finf, finf_uniform, hmax, vmax,
          P, negrow, stats):
    """Whole-array twin of :func:`flood_model._kernels.depth_kernel` (one chunk)."""
    dt, zero = P[K.P_DT], P[K.P_ZERO]
    r = P[K.P_RAIN] if src_uniform else src
    lr = P[K.P_LOSS] if loss_uniform else loss
    fi = P[K.P_FINF] if finf_uniform else finf
    hn = h + P[K.P_DTDX] * (qx[:, :-1] - qx[:, 1:]) + P[K.P_DTDY] * (qy[:-1, :] - qy[1:, :]) + dt * r
    a = act != 0
    lo = np.where(a, np.minimum(lr * dt, np.maximum(hn, zero)), zero)
    hn = np.where(a, hn - lo, zero).astype(h.dtype)
    h[...] = hn
    np.maximum(hmax, hn, out=hmax)
    ux = 0.5 * (qx[:, :-1] + qx[:, 1:])
    uy = 0.5 * (qy[:-1, :] + qy[1:, :])
    hv = P[K.P_HVEL]
    sp = np.where(hn > hv, np.sqrt(ux * ux + uy * uy) / np.maximum(hn, hv), zero)
    np.maximum(vmax, sp, out=vmax)
    negrow[:] = (hn < 0).any(axis=1)
    stats[:] = 0
    stats[0, K.S_LOSS] = lo.sum()
    stats[0, K.S_INF] = (lo * fi).sum()
    stats[0, K.S_STORE] = hn.sum()
    stats[0, K.S_HMAX] = max(hn.max(), 0.0)
    stats[0, K.S_NNEG] = (hn < 0).sum()
    stats[0, K.S_VMAX] = sp.max()


def fixup(h, qx, qy, negrow, dtdx, dtdy, max_passes):
    """Python-loop twin of :func:`flood_model._kernels.fixup_negative` (same visiting order)."""
    ny, nx = h.shape
    fixed, residual = 0, 0.0
    for _ in range(max_passes):
        any_neg = False
        for j in range(ny):
            if not negrow[j]:
                continue
            negrow[j] = 0
            for i in range(nx):
                if h[j, i] >= 0:
                    continue
                faces = [
                    ("x", j, i, -1, max(-qx[j, i], 0.0) * dtdx, (j, i - 1)),
                    ("x", j, i + 1, 1, max(qx[j, i + 1], 0.0) * dtdx, (j, i + 1)),
                    ("y", j, i, -1, max(-qy[j, i], 0.0) * dtdy, (j - 1, i)),
                    ("y", j + 1, i, 1, max(qy[j + 1, i], 0.0) * dtdy, (j + 1, i)),
                ]
                out = sum(f[4] for f in faces)
                avail = h[j, i] + out
                if out <= 0:
                    residual += -h[j, i]
                    h[j, i] = 0
                    continue
                s = max(avail, 0.0) / out
                for kind, fj, fi, _sign, o, (nj, ni) in faces:
                    if o <= 0:
                        continue
                    arr = qx if kind == "x" else qy
                    arr[fj, fi] *= s
                    h[nj, ni] -= o * (1 - s)
                    if h[nj, ni] < 0:
                        negrow[nj] = 1
                        any_neg = True
                if avail < 0:
                    residual += -avail
                h[j, i] = 0
                fixed += 1
        if not any_neg:
            break
    neg = h < 0
    residual += float(-h[neg].sum())
    h[neg] = 0
    return fixed, residual


def boundary(h, z, act, n2, n2_uniform, n2u, ob_j, ob_i, ob_d, ob_q, dx, dy, dt, g, hmin, edge_slope, stage):
    """Python-loop twin of :func:`flood_model._kernels.boundary_kernel`."""
    ny, nx = h.shape
    total = 0.0
    offs = {0: (0, 1, dx), 1: (0, -1, dx), 2: (1, 0, dy), 3: (-1, 0, dy)}
    for k in range(len(ob_j)):
        j, i, d = int(ob_j[k]), int(ob_i[k]), int(ob_d[k])
        hc = float(h[j, i])
        if hc <= hmin:
            ob_q[k] = 0.0
            continue
        dj, di, dl = offs[d]
        jn, inb = j + dj, i + di
        s = edge_slope
        if stage == stage:
            s = max((z[j, i] + hc - stage) / (0.5 * dl), 0.0)
        elif 0 <= jn < ny and 0 <= inb < nx and act[jn, inb]:
            dzb = z[jn, inb] - z[j, i]
            s = max(s, dzb / dl)
            if s <= 0.0:
                s = max((dzb + h[jn, inb] - hc) / dl, 0.0)
        nf = n2u if n2_uniform else n2[j, i]
        q0 = ob_q[k]
        q = max((q0 + g * dt * hc * s) / (1 + g * dt * nf * abs(q0) / hc ** (7 / 3)), 0.0)
        out = min(q * dt / dl, hc)
        ob_q[k] = out * dl / dt
        h[j, i] = hc - out
        total += out
    return total
