"""OFA's accuracy-predictor encoding written as its reference does it, for tests to compare against."""

from ofa_hw.space import SubnetConfig


def spec2feats(cfg: SubnetConfig) -> list[float]:
    """OFA's ``spec2feats``: one config at a time, plain lists (kernel, expand and resolution one-hots)."""
    ks_onehot, ex_onehot, r_onehot = [0.0] * 60, [0.0] * 60, [0.0] * 8
    for stage in range(5):
        for i in range(cfg.d[stage]):
            slot = 4 * stage + i
            ks_onehot[3 * slot + {3: 0, 5: 1, 7: 2}[cfg.ks[slot]]] = 1.0
            ex_onehot[3 * slot + {3: 0, 4: 1, 6: 2}[cfg.e[slot]]] = 1.0
    r_onehot[(cfg.r - 112) // 16] = 1.0
    return ks_onehot + ex_onehot + r_onehot
