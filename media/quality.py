"""Call quality estimate of one G.711 leg: the ITU-T G.107 E-model, simplified.

Pure functions. The transmission rating R and its MOS for a narrowband G.711 call whose
only impairments are delay and random packet loss (every other G.107 input at its
default value):

    R   = R0 - Is - Id - Ie_eff + A
    R0 - Is = 93.2                       G.107's rating of its default connection (every
                                         parameter at its default value, no delay)
    A   = 0                              no advantage factor (wired and mobile alike)
    Id  = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)
                                         delay impairment for a one-way mouth-to-ear delay
                                         d in ms, echo-free (the usual fit of G.107's Idd
                                         and Idte, Cole & Rosenbluth 2001); H is the step
    Ie_eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl)          G.107 eq. 7-29
             Ie = 0 for G.711; Ppl the loss in %; BurstR = 1 (random loss);
             Bpl = 25.1: G.113 Appendix I's robustness of G.711 *with* packet loss
             concealment (G.711 Appendix I). G.711 without concealment is 4.3; the phones
             that play what the worker relays conceal lost frames, so 25.1 is the default.
    MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R)   for 0 < R < 100  (G.107 Annex B)
          1 for R <= 0 (and where the cubic dips below 1), 4.5 for R >= 100

One-way delay is not measured (there is no common clock); it is estimated as

    d = RTT / 2                network, from RTCP (0 when no RTT is known)
      + 2 x mean jitter        what an adaptive jitter buffer holds back
      + 20 ms                  packetisation (one frame)

A clean G.711 call therefore scores R = 93.2 - 0.48 = 92.7, MOS 4.40; 1 % random loss
costs about 3.6 points of R, 5 % about 16.
"""

from __future__ import annotations

R_DEFAULT = 93.2
G711_IE = 0.0
G711_BPL_PLC = 25.1
G711_BPL_NO_PLC = 4.3
PACKETISATION_MS = 20.0


def delay_impairment(one_way_ms: float) -> float:
    """Id for a one-way mouth-to-ear delay in ms (echo-free)."""
    d = max(0.0, one_way_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def loss_impairment(loss_pct: float, *, ie: float = G711_IE, bpl: float = G711_BPL_PLC,
                    burst_r: float = 1.0) -> float:
    """Ie_eff for ``loss_pct`` % packet loss (G.107 eq. 7-29)."""
    ppl = min(100.0, max(0.0, loss_pct))
    return ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)


def one_way_delay_ms(*, rtt_ms: float | None, jitter_ms: float) -> float:
    return (rtt_ms or 0.0) / 2 + 2 * jitter_ms + PACKETISATION_MS


def r_factor(*, loss_pct: float, one_way_ms: float, bpl: float = G711_BPL_PLC) -> float:
    """The transmission rating R (0..100) of a G.711 leg."""
    r = R_DEFAULT - delay_impairment(one_way_ms) - loss_impairment(loss_pct, bpl=bpl)
    return min(100.0, max(0.0, r))


def mos_from_r(r: float) -> float:
    """G.107 Annex B: the estimated mean opinion score (1..4.5) for a rating R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    # The cubic dips just below 1 for R under ~6.5: held at 1 (also keeps it monotonic).
    return max(1.0, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))
