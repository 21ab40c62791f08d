"""Numba kernels of the local inertial solver (private plumbing).

Layout (row index ``j`` grows southwards, column index ``i`` eastwards)::

    h   (ny, nx)     water depth [m] at cell centres
    qx  (ny, nx+1)   unit discharge [m2/s] on x-faces; face i sits between cells i-1 and i,
                     positive towards +i (east). Columns 0 and nx are domain edges (always 0).
    qy  (ny+1, nx)   unit discharge [m2/s] on y-faces; face j sits between rows j-1 and j,
                     positive towards +j (south). Rows 0 and ny are domain edges (always 0).
    dzx (ny, nx+1)   bed step z[j,i] - z[j,i-1] across x-face i [m]
    dzy (ny+1, nx)   bed step z[j,i] - z[j-1,i] across y-face j [m]
    mx, my           uint8 face masks, 1 = face may carry flow

Storing bed *steps* rather than elevations keeps float32 runs accurate: the
water-surface difference across a face is ``dz + h_b - h_a``, all small numbers.

The parameter vector ``P`` (same dtype as ``h``) holds every scalar so that a
float32 run never promotes to float64 inside the loops; see ``P_*`` indices.
The numpy twin in :mod:`flood_model._reference` implements the same equations
with whole-array operations and exact powers; tests compare the two.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# indices into the parameter vector P
P_THETA = 0  # de Almeida smoothing weight theta [-]
P_THETA2 = 1  # (1 - theta) / 2
P_GDTDX = 2  # g dt / dx [m/s * 1/m ...]
P_GDTDY = 3  # g dt / dy
P_GDT = 4  # g dt
P_HMIN = 5  # minimum flow depth across a face [m]
P_DTDX = 6  # dt / dx [s/m]
P_DTDY = 7  # dt / dy
P_DT = 8  # dt [s]
P_N2 = 9  # uniform Manning n squared [s2 m^-2/3]
P_RAIN = 10  # uniform source rate [m/s]
P_LOSS = 11  # uniform loss capacity (infiltration + drainage) [m/s]
P_FINF = 12  # uniform infiltration share of the loss [-]
P_HVEL = 13  # minimum depth for velocity statistics [m]
P_ONE = 14
P_ZERO = 15
P_C43 = 16  # 4/3
P_C13 = 17  # 1/3
P_HALF = 18
P_SIZE = 19

# magic seeds for the inverse cube root, x**(-1/3) ~ MAGIC - bits(x) // 3 (tuned, see docs)
MAGIC32 = 0x54A21FCC
MAGIC64 = 0x553F05FC49D9B000

# columns of the per-chunk statistics returned by depth_kernel
S_LOSS = 0  # sum of loss depths [m] (times cell area = volume)
S_INF = 1  # infiltration part of the loss [m]
S_STORE = 2  # sum of depths after the update [m]
S_HMAX = 3  # max depth [m]
S_NNEG = 4  # number of negative depths left for the fix-up
S_VMAX = 5  # max speed [m/s]
S_SIZE = 6

_JIT = dict(parallel=True, fastmath=True, cache=True, error_model="numpy", nogil=True)
_JIT_SERIAL = dict(fastmath=False, cache=True, error_model="numpy", nogil=True)


@nb.njit(fastmath=True, cache=True, error_model="numpy", nogil=True, inline="always")
def _x_faces_row(j, h, qx, qx_new, dzx, mx, n2, n2_uniform, fb, fbi, rb, rbi, magic, theta, th2, gdtdx, gdt,
                 hmin, n2u, one, zero, c43, c13, half):  # pragma: no cover - compiled
    """New fluxes of the x-faces 1..nx-1 of row ``j``; returns the row's largest face speed and |d eta|.

    ``fb``/``rb`` are row buffers (float) with integer views ``fbi``/``rbi`` (inverse cube root seed).
    The loops are split so that LLVM vectorises each of them.
    """
    nx = h.shape[1]
    for i in range(1, nx):
        dz = dzx[j, i]
        hf = max(h[j, i - 1] - max(dz, zero), h[j, i] - max(-dz, zero))
        fb[i] = max(hf, hmin)
    for i in range(1, nx):
        rbi[i] = magic - fbi[i] // 3
    for i in range(1, nx):
        x = fb[i]
        r = rb[i]
        r = r * (c43 - c13 * x * r * r * r)
        r = r * (c43 - c13 * x * r * r * r)
        r = r * (c43 - c13 * x * r * r * r)
        r2 = r * r
        r7 = r2 * r2 * r2 * r
        ha = h[j, i - 1]
        hb = h[j, i]
        deta = dzx[j, i] + hb - ha
        q0 = qx[j, i]
        qbar = theta * q0 + th2 * (qx[j, i - 1] + qx[j, i + 1])
        nf = n2u if n2_uniform else half * (n2[j, i - 1] + n2[j, i])
        q = (qbar - gdtdx * x * deta) / (one + gdt * nf * abs(q0) * r7)
        q = q if (x > hmin and mx[j, i] != 0) else zero
        qx_new[j, i] = q
        fb[i] = abs(q) * r2 * r  # face speed; buffers are free now (kept out of the
        rb[i] = abs(deta) if q != zero else zero  # vectorised loop: max below)
    um = zero
    sm = zero
    for i in range(1, nx):
        um = max(um, fb[i])
        sm = max(sm, rb[i])
    return um, sm


@nb.njit(fastmath=True, cache=True, error_model="numpy", nogil=True, inline="always")
def _y_faces_row(j, h, qy, qy_new, dzy, my, n2, n2_uniform, fb, fbi, rb, rbi, magic, theta, th2, gdtdy, gdt,
                 hmin, n2u, one, zero, c43, c13, half):  # pragma: no cover - compiled
    """New fluxes of the y-faces between rows ``j - 1`` and ``j`` (``j >= 1``); as :func:`_x_faces_row`."""
    nx = h.shape[1]
    for i in range(nx):
        dz = dzy[j, i]
        hf = max(h[j - 1, i] - max(dz, zero), h[j, i] - max(-dz, zero))
        fb[i] = max(hf, hmin)
    for i in range(nx):
        rbi[i] = magic - fbi[i] // 3
    for i in range(nx):
        x = fb[i]
        r = rb[i]
        r = r * (c43 - c13 * x * r * r * r)
        r = r * (c43 - c13 * x * r * r * r)
        r = r * (c43 - c13 * x * r * r * r)
        r2 = r * r
        r7 = r2 * r2 * r2 * r
        ha = h[j - 1, i]
        hb = h[j, i]
        deta = dzy[j, i] + hb - ha
        q0 = qy[j, i]
        qbar = theta * q0 + th2 * (qy[j - 1, i] + qy[j + 1, i])
        nf = n2u if n2_uniform else half * (n2[j - 1, i] + n2[j, i])
        q = (qbar - gdtdy * x * deta) / (one + gdt * nf * abs(q0) * r7)
        q = q if (x > hmin and my[j, i] != 0) else zero
        qy_new[j, i] = q
        fb[i] = abs(q) * r2 * r
        rb[i] = abs(deta) if q != zero else zero
    um = zero
    sm = zero
    for i in range(nx):
        um = max(um, fb[i])
        sm = max(sm, rb[i])
    return um, sm


@nb.njit(fastmath=True, cache=True, error_model="numpy", nogil=True, inline="always")
def _continuity_row(j, h, qx, qy, act, src, src_uniform, loss, loss_uniform, finf, finf_uniform, hmax, vmax,
                    dtdx, dtdy, dt, rain_u, loss_u, finf_u, hvel, zero, half):  # pragma: no cover - compiled
    """Continuity of row ``j`` (the loop body of :func:`depth_kernel`); returns the row's sums and maxima."""
    nx = h.shape[1]
    s_loss = 0.0
    s_inf = 0.0
    s_store = 0.0
    s_hmax = zero
    s_vmax = zero
    row_neg = 0
    for i in range(nx):
        r = rain_u if src_uniform else src[j, i]
        lr = loss_u if loss_uniform else loss[j, i]
        fi = finf_u if finf_uniform else finf[j, i]
        qxl = qx[j, i]
        qxr = qx[j, i + 1]
        qyt = qy[j, i]
        qyb = qy[j + 1, i]
        hn = h[j, i] + dtdx * (qxl - qxr) + dtdy * (qyt - qyb) + dt * r
        lo = min(lr * dt, max(hn, zero))
        a = act[j, i] != 0
        lo = lo if a else zero
        hn = hn - lo if a else zero
        h[j, i] = hn
        s_loss += lo
        s_inf += lo * fi
        s_store += hn
        s_hmax = max(s_hmax, hn)
        row_neg += 1 if hn < zero else 0
        hmax[j, i] = max(hmax[j, i], hn)
        ux = half * (qxl + qxr)
        uy = half * (qyt + qyb)
        sp = np.sqrt(ux * ux + uy * uy) / max(hn, hvel)
        sp = sp if hn > hvel else zero
        vmax[j, i] = max(vmax[j, i], sp)
        s_vmax = max(s_vmax, sp)
    return s_loss, s_inf, s_store, s_hmax, s_vmax, row_neg


@nb.njit(**_JIT)
def flux_kernel(h, qx, qy, qx_new, qy_new, dzx, dzy, mx, my, n2, n2_uniform, P, magic,
                fbuf, fbuf_i, rbuf, rbuf_i, ustats, nchunks):  # pragma: no cover - compiled
    """Local inertial face update (Bates 2010, de Almeida 2012), all faces, one step.

    ``ustats[c, 0]`` receives the chunk's largest face speed ``|q|/h_f`` [m/s] and
    ``ustats[c, 1]`` the largest water-surface step ``|d eta|`` [m] across a face carrying flow.
    """
    ny = h.shape[0]
    theta = P[P_THETA]
    th2 = P[P_THETA2]
    gdtdx = P[P_GDTDX]
    gdtdy = P[P_GDTDY]
    gdt = P[P_GDT]
    hmin = P[P_HMIN]
    n2u = P[P_N2]
    one = P[P_ONE]
    zero = P[P_ZERO]
    c43 = P[P_C43]
    c13 = P[P_C13]
    half = P[P_HALF]
    rows_per = (ny + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        r0 = c * rows_per
        r1 = min(ny, r0 + rows_per)
        fb = fbuf[c]
        fbi = fbuf_i[c]
        rb = rbuf[c]
        rbi = rbuf_i[c]
        um = zero
        sm = zero
        for j in range(r0, r1):
            a, b = _x_faces_row(j, h, qx, qx_new, dzx, mx, n2, n2_uniform, fb, fbi, rb, rbi, magic, theta, th2,
                                gdtdx, gdt, hmin, n2u, one, zero, c43, c13, half)
            um = max(um, a)
            sm = max(sm, b)
            if j >= 1:
                a, b = _y_faces_row(j, h, qy, qy_new, dzy, my, n2, n2_uniform, fb, fbi, rb, rbi, magic, theta,
                                    th2, gdtdy, gdt, hmin, n2u, one, zero, c43, c13, half)
                um = max(um, a)
                sm = max(sm, b)
        ustats[c, 0] = um
        ustats[c, 1] = sm


@nb.njit(**_JIT)
def depth_kernel(h, qx, qy, act, src, src_uniform, loss, loss_uniform, finf, finf_uniform,
                 hmax, vmax, P, negrow, stats, nchunks):  # pragma: no cover - compiled
    """Continuity update with sources and capped losses; updates max depth/speed in place.

    ``stats[c, S_*]`` receives per-chunk sums; ``negrow[j]`` is set to 1 for rows
    holding a negative depth (to be repaired by :func:`fixup_negative`).
    """
    ny = h.shape[0]
    dtdx = P[P_DTDX]
    dtdy = P[P_DTDY]
    dt = P[P_DT]
    rain_u = P[P_RAIN]
    loss_u = P[P_LOSS]
    finf_u = P[P_FINF]
    hvel = P[P_HVEL]
    zero = P[P_ZERO]
    half = P[P_HALF]
    rows_per = (ny + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        r0 = c * rows_per
        r1 = min(ny, r0 + rows_per)
        s_loss = 0.0  # float64 accumulators: fp32 sums of 1e6 cells would lose ~1e-4 of the volume
        s_inf = 0.0
        s_store = 0.0
        s_hmax = zero
        s_vmax = zero
        s_neg = 0
        for j in range(r0, r1):
            a0, a1, a2, a3, a4, a5 = _continuity_row(
                j, h, qx, qy, act, src, src_uniform, loss, loss_uniform, finf, finf_uniform, hmax, vmax,
                dtdx, dtdy, dt, rain_u, loss_u, finf_u, hvel, zero, half)
            s_loss += a0
            s_inf += a1
            s_store += a2
            s_hmax = max(s_hmax, a3)
            s_vmax = max(s_vmax, a4)
            negrow[j] = 1 if a5 > 0 else 0
            s_neg += a5
        stats[c, S_LOSS] = s_loss
        stats[c, S_INF] = s_inf
        stats[c, S_STORE] = s_store
        stats[c, S_HMAX] = s_hmax
        stats[c, S_NNEG] = s_neg
        stats[c, S_VMAX] = s_vmax


@nb.njit(**_JIT)
def step_kernel(h, qx, qy, qx_new, qy_new, dzx, dzy, mx, my, n2, n2_uniform, P, magic,
                fbuf, fbuf_i, rbuf, rbuf_i, ustats, act, src, src_uniform, loss, loss_uniform, finf,
                finf_uniform, hmax, vmax, negrow, stats, nchunks):  # pragma: no cover - compiled
    """One whole step in one pass over the rows: :func:`flux_kernel` then :func:`depth_kernel`, fused.

    Same equations, same arithmetic per face and per cell as the two kernels, so the
    same results (only the float64 balance sums are added in another order). Row
    ``j``'s faces are computed from the old depths, then row ``j - 1``'s continuity
    (its faces are all new by then) while its depths, fluxes and bed steps are still
    in cache: h is read once per step instead of twice and the new fluxes are used
    before they leave the cache. The last row of each chunk needs the first y-face of
    the next chunk, computed by another thread from that row's old depth, so its
    continuity runs in a second short parallel pass. Arguments are those of the two
    kernels; ``qx_new``/``qy_new`` receive the fluxes and ``h`` the new depths.
    """
    ny = h.shape[0]
    theta = P[P_THETA]
    th2 = P[P_THETA2]
    gdtdx = P[P_GDTDX]
    gdtdy = P[P_GDTDY]
    gdt = P[P_GDT]
    hmin = P[P_HMIN]
    n2u = P[P_N2]
    one = P[P_ONE]
    zero = P[P_ZERO]
    c43 = P[P_C43]
    c13 = P[P_C13]
    half = P[P_HALF]
    dtdx = P[P_DTDX]
    dtdy = P[P_DTDY]
    dt = P[P_DT]
    rain_u = P[P_RAIN]
    loss_u = P[P_LOSS]
    finf_u = P[P_FINF]
    hvel = P[P_HVEL]
    rows_per = (ny + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        r0 = c * rows_per
        r1 = min(ny, r0 + rows_per)
        fb = fbuf[c]
        fbi = fbuf_i[c]
        rb = rbuf[c]
        rbi = rbuf_i[c]
        um = zero
        sm = zero
        s_loss = 0.0
        s_inf = 0.0
        s_store = 0.0
        s_hmax = zero
        s_vmax = zero
        s_neg = 0
        for j in range(r0, r1):
            a, b = _x_faces_row(j, h, qx, qx_new, dzx, mx, n2, n2_uniform, fb, fbi, rb, rbi, magic, theta, th2,
                                gdtdx, gdt, hmin, n2u, one, zero, c43, c13, half)
            um = max(um, a)
            sm = max(sm, b)
            if j >= 1:
                a, b = _y_faces_row(j, h, qy, qy_new, dzy, my, n2, n2_uniform, fb, fbi, rb, rbi, magic, theta,
                                    th2, gdtdy, gdt, hmin, n2u, one, zero, c43, c13, half)
                um = max(um, a)
                sm = max(sm, b)
            # ---- continuity of row j-1: all its faces are new now
            if j > r0:
                a0, a1, a2, a3, a4, a5 = _continuity_row(
                    j - 1, h, qx_new, qy_new, act, src, src_uniform, loss, loss_uniform, finf, finf_uniform,
                    hmax, vmax, dtdx, dtdy, dt, rain_u, loss_u, finf_u, hvel, zero, half)
                s_loss += a0
                s_inf += a1
                s_store += a2
                s_hmax = max(s_hmax, a3)
                s_vmax = max(s_vmax, a4)
                negrow[j - 1] = 1 if a5 > 0 else 0
                s_neg += a5
        ustats[c, 0] = um
        ustats[c, 1] = sm
        stats[c, S_LOSS] = s_loss
        stats[c, S_INF] = s_inf
        stats[c, S_STORE] = s_store
        stats[c, S_HMAX] = s_hmax
        stats[c, S_NNEG] = s_neg
        stats[c, S_VMAX] = s_vmax
    for c in nb.prange(nchunks):  # the last row of each chunk (needs the next chunk's first y-face)
        r0 = c * rows_per
        r1 = min(ny, r0 + rows_per)
        if r1 > r0:
            a0, a1, a2, a3, a4, a5 = _continuity_row(
                r1 - 1, h, qx_new, qy_new, act, src, src_uniform, loss, loss_uniform, finf, finf_uniform,
                hmax, vmax, dtdx, dtdy, dt, rain_u, loss_u, finf_u, hvel, zero, half)
            stats[c, S_LOSS] += a0
            stats[c, S_INF] += a1
            stats[c, S_STORE] += a2
            stats[c, S_HMAX] = max(stats[c, S_HMAX], a3)
            stats[c, S_VMAX] = max(stats[c, S_VMAX], a4)
            negrow[r1 - 1] = 1 if a5 > 0 else 0
            stats[c, S_NNEG] += a5


@nb.njit(**_JIT_SERIAL)
def fixup_negative(h, qx, qy, negrow, dtdx, dtdy, max_passes):  # pragma: no cover - compiled
    """Volume limiter: scale the outflows of cells that went negative.

    For a cell with ``h < 0`` the outgoing face fluxes are scaled by
    ``s = (h + O) / O`` where ``O`` is the outgoing depth, which leaves the cell
    exactly empty; the water no longer delivered is taken back from the
    receiving neighbours (which are re-checked). Volume is conserved exactly.
    Returns the number of cells repaired and the residual negative volume
    [m] that could not be repaired (clipped to zero).
    """
    ny, nx = h.shape
    fixed = 0
    residual = 0.0
    for _ in range(max_passes):
        any_neg = False
        for j in range(ny):
            if negrow[j] == 0:
                continue
            negrow[j] = 0
            for i in range(nx):
                if h[j, i] >= 0.0:
                    continue
                qw = qx[j, i]
                qe = qx[j, i + 1]
                qn = qy[j, i]
                qs = qy[j + 1, i]
                ow = max(-qw, 0.0) * dtdx
                oe = max(qe, 0.0) * dtdx
                on = max(-qn, 0.0) * dtdy
                os_ = max(qs, 0.0) * dtdy
                out = ow + oe + on + os_
                avail = h[j, i] + out
                if out <= 0.0:
                    residual += -h[j, i]
                    h[j, i] = 0.0
                    continue
                s = max(avail, 0.0) / out
                k = 1.0 - s
                if ow > 0.0:
                    qx[j, i] = qw * s
                    h[j, i - 1] -= ow * k
                    if h[j, i - 1] < 0.0:
                        negrow[j] = 1
                        any_neg = True
                if oe > 0.0:
                    qx[j, i + 1] = qe * s
                    h[j, i + 1] -= oe * k
                    if h[j, i + 1] < 0.0:
                        negrow[j] = 1
                        any_neg = True
                if on > 0.0:
                    qy[j, i] = qn * s
                    h[j - 1, i] -= on * k
                    if h[j - 1, i] < 0.0:
                        negrow[j - 1] = 1
                        any_neg = True
                if os_ > 0.0:
                    qy[j + 1, i] = qs * s
                    h[j + 1, i] -= os_ * k
                    if h[j + 1, i] < 0.0:
                        negrow[j + 1] = 1
                        any_neg = True
                if avail < 0.0:
                    residual += -avail
                h[j, i] = 0.0
                fixed += 1
        if not any_neg:
            break
    # anything still negative after max_passes: clip and report
    for j in range(ny):
        for i in range(nx):
            if h[j, i] < 0.0:
                residual += -h[j, i]
                h[j, i] = 0.0
    return fixed, residual


@nb.njit(**_JIT_SERIAL)
def boundary_kernel(h, z, act, n2, n2_uniform, n2u, ob_j, ob_i, ob_d, ob_q, dx, dy, dt, g,
                    hmin, edge_slope, stage):  # pragma: no cover - compiled
    """Outflow through open boundary faces; returns the outflow depth sum [m].

    The boundary discharge follows the local inertial equation with the water
    surface slope of the adjacent interior face (or ``edge_slope`` if > 0),
    only outwards, and never more than the water the cell holds.
    Directions: 0 west, 1 east, 2 north (row - 1), 3 south (row + 1).
    """
    ny, nx = h.shape
    total = 0.0
    for k in range(ob_j.shape[0]):
        j = ob_j[k]
        i = ob_i[k]
        d = ob_d[k]
        hc = h[j, i]
        if hc <= hmin:
            ob_q[k] = 0.0
            continue
        if d == 0:
            jn, inb, dl = j, i + 1, dx
        elif d == 1:
            jn, inb, dl = j, i - 1, dx
        elif d == 2:
            jn, inb, dl = j + 1, i, dy
        else:
            jn, inb, dl = j - 1, i, dy
        s = edge_slope
        if stage == stage:  # fixed water-surface elevation at the edge (not NaN)
            s = max((z[j, i] + hc - stage) / (0.5 * dl), 0.0)
        elif 0 <= jn < ny and 0 <= inb < nx and act[jn, inb] != 0:
            dzb = z[jn, inb] - z[j, i]
            s = max(s, dzb / dl)
            if s <= 0.0:
                s = max((dzb + h[jn, inb] - hc) / dl, 0.0)
        nf = n2u if n2_uniform else n2[j, i]
        q0 = ob_q[k]
        q = (q0 + g * dt * hc * s) / (1.0 + g * dt * nf * abs(q0) / hc ** (7.0 / 3.0))
        q = max(q, 0.0)
        out = min(q * dt / dl, hc)
        ob_q[k] = out * dl / dt
        h[j, i] = hc - out
        total += out
    return total
