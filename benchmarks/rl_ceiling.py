"""How much of the optimum's gain can a policy that sees only the observation reach? (Issue 16, Sec. V.)

ADD and every learner of ``benchmarks/rl.py`` settle on the fixed allocation (send all that fits).
This script asks whether the issue's targets (95 % of the optimum's gain over random without a cap,
90 % with the cap at 12 users) are reachable at all from the environment's observation: per user the
16 x 16 map, the bound, the whole packet, log SNR and the first 12 prefix sizes. On held-out prompts
the utility of each prefix depends on the quality of the image the user's inpainter draws, which the
observation does not determine. So instead of a learner we fit the best predictors we can of each
prefix's utility from observation features, on the train prompts' measured curves, choose the
prefix with the largest predicted utility, and score that policy on the held-out states of
``benchmarks/rl.py`` (same environment, same states, same random/fixed/optimum).

Without a cap the problem separates per user: the reward is the sum of the users' terms of Eq. 19,
each user's bound depends on that user only, and the users of a state are drawn independently, so
a per-user policy is all a policy can be, and the share with N = 3 users is the share of N = 1 with
three times the states. The script checks the first part: on a few N = 3 states the optimum's
reward equals the sum of the N = 1 optima of its users.

Measured, as shares ``(R - R_random) / (R_opt - R_random)`` with standard errors from a paired
bootstrap over states (2000 resamples; the prompts are fixed, so the SE says nothing about which
300 prompts were drawn):

* ``fixed``; ``size_rule``: whole segments in order, stop before the first segment larger than ``T``
  pixels, ``T`` chosen on the TRAIN states and reported on held-out (``size_rule_2000``: chapter 8's
  hand rule, whose ``T`` was read off held-out states, for comparison);
* ``hgb``, ``knn``: HistGradientBoosting and k-nearest-neighbour regressors of a prefix's value
  ``omega_1 J H(Q >= Q_th)`` from the observation (map, prefix sizes, the prefix's own size and
  neighbours), fitted on the 300 train prompts, hyper-parameters picked by 5-fold GroupKFold over
  the train prompts on the policy's mean utility (never on held-out);
* ``*_in_sample``: the same fitted predictors scored on TRAIN states (memorisation; not a policy);
* ``noise``: the out-of-fold error of the value predictor against the gains the optimum makes over
  the fixed allocation;
* ``cap12``: 12 users at 2 s sharing ``FIG16A_CAP``; the predicted values become step curves and
  :func:`gsemlab.rl.optimum.optimal_allocation` shares the cap among them.

Writes ``benchmarks/results/rl_ceiling.json`` and its bundled summary.

    python benchmarks/rl_ceiling.py            # the recorded run, about 80 s on one core
    python benchmarks/rl_ceiling.py --quick    # fewer states and configurations, a smoke test
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
EVAL_SEED = 10_000  # benchmarks/rl.py's held-out states
TRAIN_SEED = 1  # train states for choosing T and the hyper-parameters
MAP = 256  # the map's cells in a user's observation
N_FOLDS = 5
N_BOOT = 2000


# ---------------------------------------------------------------------------- observation -> features
def user_obs(obs: np.ndarray, n_users: int) -> np.ndarray:
    """(n_states, N * F) observations -> (n_states * N, F), one row per user."""
    return obs.reshape(len(obs) * n_users, -1)


def obs_parts(u: np.ndarray):
    """A user's observation: map bits, bound (px), whole packet (px), prefix sizes (px)."""
    return u[:, :MAP], np.rint(u[:, MAP] * 4096), np.rint(u[:, MAP + 1] * 4096), np.rint(u[:, MAP + 3:] * 4096)


def candidates(prefix: np.ndarray) -> np.ndarray:
    """The budgets worth trying that the observation shows: 0 and each distinct prefix size."""
    return np.unique(np.r_[0.0, prefix])  # an empty packet shows prefix sizes of 0


def features(map_bits: np.ndarray, prefix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows for each candidate budget of one user: (n_candidates, n_features), and the budgets."""
    c = candidates(prefix)
    m = c.size - 1
    packet = c[-1]
    seg = np.r_[0.0, np.diff(c)]
    nxt = np.r_[seg[1:], 0.0]
    rows = []
    for j in range(m + 1):
        rows.append(np.r_[j, m, float(j == m), c[j] / 4096, (packet - c[j]) / 4096, seg[j] / 4096,
                          nxt[j] / 4096, seg[: j + 1].max() / 4096, c[j] / max(packet, 1.0),
                          map_bits.sum() / MAP, packet / 4096, prefix / 4096, map_bits])
    return np.asarray(rows), c


N_NUMERIC = 11 + 12  # the columns of features() before the map


class Table:
    """Candidate budgets and feature rows of distinct user observations (padded to 13 budgets)."""

    def __init__(self, parts: np.ndarray):
        self.parts = parts  # (n, 256 + 12): map bits and prefix sizes / 4096
        rows, budgets, owner = [], [], []
        for i, row in enumerate(parts):
            f, c = features(row[:MAP], np.rint(row[MAP:] * 4096))
            rows.append(f)
            budgets.append(c)
            owner += [i] * c.size
        self.X = np.concatenate(rows)
        self.owner = np.asarray(owner)
        self.slot = np.concatenate([np.arange(c.size) for c in budgets])
        self.C = np.full((len(parts), 13), np.inf)
        for i, c in enumerate(budgets):
            self.C[i, : c.size] = c

    def pad(self, values: np.ndarray) -> np.ndarray:
        out = np.full(self.C.shape, -np.inf)
        out[self.owner, self.slot] = values
        return out


def key_parts(u: np.ndarray) -> np.ndarray:
    """The part of a user's observation that describes its prompt: map and prefix sizes."""
    return np.concatenate([u[:, :MAP], u[:, MAP + 3:]], axis=1)


def choose(V: np.ndarray, C: np.ndarray, bound: np.ndarray, omega2: float) -> np.ndarray:
    """Each user's budget: the candidate within its bound with the largest predicted utility."""
    score = np.where(C <= bound[:, None], V - omega2 * np.where(np.isfinite(C), C, 0.0), -np.inf)
    return C[np.arange(len(C)), np.argmax(score, axis=1)]


# ---------------------------------------------------------------------------- predictors
def make_hgb(cfg: dict, seed: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=cfg["max_iter"], learning_rate=cfg["learning_rate"],
                                         max_leaf_nodes=cfg["max_leaf_nodes"], min_samples_leaf=20,
                                         early_stopping=False, random_state=seed)


class KNN:
    """k nearest neighbours on standardised numeric features and ``map_weight`` x the map bits."""

    def __init__(self, cfg: dict):
        self.cfg = cfg

    def fit(self, X, y):
        from sklearn.neighbors import KNeighborsRegressor

        self.mu, self.sd = X[:, :N_NUMERIC].mean(0), X[:, :N_NUMERIC].std(0) + 1e-9
        self.model = KNeighborsRegressor(n_neighbors=self.cfg["n_neighbors"], weights=self.cfg["weights"])
        self.model.fit(self._z(X), y)
        return self

    def _z(self, X):
        return np.concatenate([(X[:, :N_NUMERIC] - self.mu) / self.sd, self.cfg["map_weight"] * X[:, N_NUMERIC:]],
                              axis=1)

    def predict(self, X):
        return self.model.predict(self._z(X))


def make_model(kind: str, cfg: dict, seed: int):
    return make_hgb(cfg, seed) if kind == "hgb" else KNN(cfg)


def grids(quick: bool) -> dict:
    if quick:
        return {"hgb": [{"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 15}],
                "knn": [{"n_neighbors": 15, "weights": "uniform", "map_weight": 0.3}]}
    hgb = [{"max_iter": 100, "learning_rate": lr, "max_leaf_nodes": ln}
           for lr, ln in itertools.product((0.03, 0.1), (7, 31))]
    knn = [{"n_neighbors": k, "weights": "uniform", "map_weight": w}
           for k, w in itertools.product((5, 15, 40), (0.0, 0.3, 1.0))]
    return {"hgb": hgb, "knn": knn}


# ---------------------------------------------------------------------------- the run
def share_boot(r: np.ndarray, rand: np.ndarray, opt: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Share of the optimum's gain and its SE, paired bootstrap over states."""
    from gsemlab.rl import gain_share

    idx = np.random.default_rng(seed).integers(0, r.size, size=(N_BOOT, r.size))
    rm, ra, ro = r[idx].mean(1), rand[idx].mean(1), opt[idx].mean(1)
    return gain_share(r.mean(), rand.mean(), opt.mean()), float(np.std((rm - ra) / (ro - ra), ddof=1))


def run(args) -> dict:
    import sklearn.ensemble  # load OpenMP now, so that the limit below reaches it
    import sklearn.neighbors  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one thread: the same numbers anywhere, and no spinning on a busy machine
        return _run(args)


def _run(args) -> dict:
    from sklearn.model_selection import GroupKFold

    from gsemlab.config import ADDConfig, JPSQConfig
    from gsemlab.rl import FIG16A_CAP, FIG16A_LATENCY_S, PAPER_WEIGHTS, BandwidthAllocationEnv, evaluate
    from gsemlab.rl.curves import MAX_STEPS, bundled
    from gsemlab.rl.evaluation import draw_states
    from gsemlab.rl.optimum import UtilityCurve, optimal_allocation, utility_term

    start = time.perf_counter()
    cs = bundled()
    omega0, omega1, omega2 = PAPER_WEIGHTS
    q_th = JPSQConfig().q_th
    nocap = {"n_users": 3, "shared_cap": None, "latency_s": None, "weights": PAPER_WEIGHTS}
    cap12 = {"n_users": 12, "shared_cap": FIG16A_CAP, "latency_s": FIG16A_LATENCY_S, "weights": PAPER_WEIGHTS}
    res = {"benchmark": "rl_ceiling", "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
           "machine": platform.machine(), "eval_seed": EVAL_SEED, "train_seed": TRAIN_SEED,
           "n_eval_states": args.states, "n_train_states": args.train_states, "n_cap_states": args.cap_states,
           "bootstrap": f"paired over states, {N_BOOT} resamples", "folds": N_FOLDS}

    # ---- the problem separates per user without a cap
    test3 = BandwidthAllocationEnv(cs, split="heldout", **nocap)
    test1 = BandwidthAllocationEnv(cs, split="heldout", **{**nocap, "n_users": 1})
    _, states = draw_states(test3, 5, EVAL_SEED)
    for s in states:
        test3.state = s
        r3 = test3.step(test3.optimal_action())[1]
        r1 = 0.0
        f = s["obs"].size // 3
        for i in range(3):
            test1.state = {k: (v[i:i + 1] if k != "obs" else v[i * f:(i + 1) * f]) for k, v in s.items()}
            r1 += test1.step(test1.optimal_action())[1]
        assert abs(r3 - r1) < 1e-6, (r3, r1)
    res["separable_checked_states"] = len(states)
    print("no cap: the optimum of 3 users is the sum of their single-user optima (5 states)", flush=True)

    # ---- per-prompt targets: a candidate budget's value omega1 J H(Q >= Q_th), from the measured curve
    prefix = cs.prefix_features(MAX_STEPS).astype(np.float32) / 4096
    parts_all = np.concatenate([cs.maps.reshape(len(cs), -1).astype(np.float32), prefix], axis=1)
    sizes, jp, qu = cs.step_table(omega0=omega0, q_th=q_th)
    value_table = utility_term(jp, qu, 0.0, omega1=omega1, omega2=omega2, q_th=q_th)  # (P, K_max)

    def realised(prompts, budgets):
        """Each user's term of Eq. 19 at ``budgets`` pixels (as the environment computes it)."""
        col = (sizes[prompts] <= budgets[:, None]).sum(axis=1) - 1
        return value_table[prompts, col] - omega2 * budgets

    train_p, held_p = cs.indices("train"), cs.indices("heldout")
    tab = {split: Table(parts_all[idx]) for split, idx in (("train", train_p), ("heldout", held_p))}
    for split, idx in (("train", train_p), ("heldout", held_p)):
        t = tab[split]
        t.y = realised(idx[t.owner], t.C[t.owner, t.slot]) + omega2 * t.C[t.owner, t.slot]
        t.prompts = idx

    def users_of(env, n_states, seed):
        obs, st = draw_states(env, n_states, seed)
        u = user_obs(obs, env.n_users)
        prompts = np.concatenate([s["users"] for s in st])
        _, bound, _, _ = obs_parts(u)
        assert np.array_equal(key_parts(u), parts_all[prompts]), "features must come from the observation"
        assert np.array_equal(bound, np.concatenate([s["bound"] for s in st]).astype(float))
        return obs, u, prompts, bound

    train3 = BandwidthAllocationEnv(cs, split="train", **nocap)
    _, _, tr_prompts, tr_bound = users_of(train3, args.train_states, TRAIN_SEED)
    tr_row = np.searchsorted(train_p, tr_prompts)  # each train user's row in tab["train"]

    # ---- hyper-parameters and T on the train split
    folds = list(GroupKFold(n_splits=N_FOLDS).split(np.zeros(len(train_p)), groups=np.arange(len(train_p))))
    t = tab["train"]

    def cv(kind, cfg):
        oof = np.zeros(t.y.size)
        for k, (fit_p, val_p) in enumerate(folds):
            fit_rows, val_rows = np.isin(t.owner, fit_p), np.isin(t.owner, val_p)
            model = make_model(kind, cfg, seed=k).fit(t.X[fit_rows], t.y[fit_rows])
            oof[val_rows] = model.predict(t.X[val_rows])
        V = t.pad(oof)
        b = choose(V[tr_row], t.C[tr_row], tr_bound, omega2)
        return float(realised(tr_prompts, b).mean()), oof

    res["selection"] = {}
    chosen = {}
    for kind, grid in grids(args.quick).items():
        scores, oofs = [], []
        for cfg in grid:
            u, oof = cv(kind, cfg)
            scores.append(u)
            oofs.append(oof)
            print(f"  cv {kind} {cfg}: train utility per user {u:.2f}", flush=True)
        best = int(np.argmax(scores))
        chosen[kind], oof = grid[best], oofs[best]
        res["selection"][kind] = {"grid": grid, "cv_utility_per_user": scores, "chosen": grid[best],
                                  "oof_rmse": float(np.sqrt(np.mean((oof - t.y) ** 2)))}
        if kind == "hgb":
            hgb_oof = oof
    print("chosen", chosen, f"({time.perf_counter() - start:.0f} s)", flush=True)

    def size_budgets(C, bound, T):
        with np.errstate(invalid="ignore"):  # inf - inf in the padding
            seg = np.diff(C, axis=1, prepend=0.0)
        ok = (C <= bound[:, None]) & np.cumprod(np.where(np.isfinite(C), seg <= T, False), axis=1).astype(bool)
        ok[:, 0] = True
        j = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)  # the last True of a prefix run
        return C[np.arange(len(C)), j]

    t_grid = list(range(250, 4001, 250)) + [4096]
    t_scores = [float(realised(tr_prompts, size_budgets(t.C[tr_row], tr_bound, T)).mean()) for T in t_grid]
    best_t = t_grid[int(np.argmax(t_scores))]
    res["selection"]["size_rule"] = {"grid": t_grid, "train_utility_per_user": t_scores, "chosen": best_t}
    print(f"size rule: T = {best_t} px on train", flush=True)

    # ---- final predictors, fitted on every train prompt
    models = {kind: make_model(kind, cfg, seed=0).fit(t.X, t.y) for kind, cfg in chosen.items()}

    def policy(kind, n_users, T=None):
        """obs (n_states, N * F) -> pixels (n_states, N), from the observation alone."""
        def act(obs):
            u = user_obs(obs, n_users)
            _, bound, _, _ = obs_parts(u)
            keys, inv = np.unique(key_parts(u), axis=0, return_inverse=True)
            tb = Table(keys)
            if kind == "size_rule":
                b = size_budgets(tb.C[inv.ravel()], bound, T)
            else:
                V = tb.pad(models[kind].predict(tb.X))
                b = choose(V[inv.ravel()], tb.C[inv.ravel()], bound, omega2)
            return b.reshape(len(obs), n_users)
        return act

    def score(env, methods, n_states, seed):
        refs = {m: np.asarray(evaluate(env, m, n_states=n_states, seed=seed)["rewards"])
                for m in ("random", "optimum")}
        out = {}
        for name, m in {"random": "random", "optimum": "optimum", **methods}.items():
            r = refs[m] if isinstance(m, str) and m in refs else \
                np.asarray(evaluate(env, m, n_states=n_states, seed=seed)["rewards"])
            sh, se = share_boot(r, refs["random"], refs["optimum"])
            out[name] = {"reward": float(r.mean()), "reward_se": float(r.std(ddof=1) / np.sqrt(r.size)),
                         "share": sh, "share_se": se}
            print(f"  {name:>18}: reward {r.mean():7.1f}  share {sh:.3f} +- {se:.3f}", flush=True)
        return out

    print("held-out, no cap (benchmarks/rl.py's states):", flush=True)
    methods = {"fixed": "fixed", "size_rule": policy("size_rule", 3, best_t),
               # chapter 8's hand rule: its T = 2000 was read off held-out states (shown, not chosen)
               "size_rule_2000": policy("size_rule", 3, 2000),
               "hgb": policy("hgb", 3), "knn": policy("knn", 3)}
    res["nocap"] = score(test3, methods, args.states, EVAL_SEED)
    rl_full = RESULTS / "rl.json"
    if rl_full.is_file() and args.states == 1000:
        ref = json.loads(rl_full.read_text(encoding="utf-8"))["nocap"]["references"]
        res["nocap_references_match_rl_json"] = all(
            abs(ref[m]["reward"] - res["nocap"][m]["reward"]) < 1e-6 for m in ("random", "fixed", "optimum"))
        print("  random, fixed, optimum equal rl.json's:", res["nocap_references_match_rl_json"], flush=True)
    print("train split, in sample (memorisation, not a policy):", flush=True)
    ins = score(train3, {"fixed": "fixed", "hgb": policy("hgb", 3), "knn": policy("knn", 3)},
                args.states, EVAL_SEED)
    res["in_sample"] = {"hgb_in_sample": ins["hgb"], "knn_in_sample": ins["knn"], "fixed": ins["fixed"]}

    # ---- noise floor: the predictor's error against the gains the optimum makes over fixed
    _, _, h_prompts, h_bound = users_of(test3, args.states, EVAL_SEED)
    h = tab["heldout"]
    h_row = np.searchsorted(held_p, h_prompts)
    true_v = h.pad(h.y)
    u_opt = realised(h_prompts, choose(true_v[h_row], h.C[h_row], h_bound, omega2))
    u_fix = realised(h_prompts, h_bound)
    gap = u_opt - u_fix
    sigma = float(np.sqrt(np.mean((hgb_oof - t.y) ** 2)))
    # between prompts: predict each candidate's value by the mean over the other folds' prompts of
    # the values at the same candidate index (out of fold, as the predictor's error)
    slot_oof = np.zeros(t.y.size)
    for fit_p, val_p in folds:
        fit_rows, val_rows = np.isin(t.owner, fit_p), np.isin(t.owner, val_p)
        means = {j: t.y[fit_rows & (t.slot == j)].mean() for j in np.unique(t.slot[fit_rows])}
        slot_oof[val_rows] = [means.get(j, t.y[fit_rows].mean()) for j in t.slot[val_rows]]
    sd_between = float(np.sqrt(np.mean((slot_oof - t.y) ** 2)))
    small = (gap > 0) & (gap < sigma)
    opt_minus_fix = float(gap.sum())
    res["noise"] = {
        "hgb_oof_rmse": sigma, "slot_mean_oof_rmse": sd_between,
        "value_sd": float(t.y.std(ddof=1)),
        "users": int(gap.size), "users_where_optimum_beats_fixed": int((gap > 1e-9).sum()),
        "median_gain_over_fixed_where_positive": float(np.median(gap[gap > 1e-9])),
        "share_of_gain_over_fixed_below_rmse": float(gap[small].sum() / opt_minus_fix),
        "check_user_sum_equals_state_reward": bool(abs(u_opt.sum() / args.states - res["nocap"]["optimum"]["reward"])
                                                   < 1e-6)}
    print("noise:", {k: round(v, 3) if isinstance(v, float) else v for k, v in res["noise"].items()}, flush=True)

    # ---- the shared cap: predicted step curves into the exact DP
    if args.cap_states > 0:
        test12 = BandwidthAllocationEnv(cs, split="heldout", **cap12)
        add_config = ADDConfig(omega1=omega1, omega2=omega2)

        def dp_policy(kind):
            def act(obs):
                u = user_obs(obs, 12)
                _, bound, _, _ = obs_parts(u)
                keys, inv = np.unique(key_parts(u), axis=0, return_inverse=True)
                tb = Table(keys)
                V = tb.pad(models[kind].predict(tb.X))
                out = []
                for s in range(len(obs)):
                    curves = []
                    for i in inv.ravel()[s * 12:(s + 1) * 12]:
                        c = tb.C[i][np.isfinite(tb.C[i])]
                        v = V[i, : c.size]
                        grid, val = [0.0], [v[0]]
                        for k in range(1, c.size):
                            if c[k] - 1 > c[k - 1]:
                                grid.append(c[k] - 1)
                                val.append(v[k - 1])
                            grid.append(c[k])
                            val.append(v[k])
                        curves.append(UtilityCurve(np.asarray(grid), np.asarray(val) / omega1,
                                                   np.full(len(grid), q_th + 1.0)))
                    alloc, _ = optimal_allocation(curves, bound[s * 12:(s + 1) * 12], cap=test12.shared_cap,
                                                  add_config=add_config)
                    out.append(alloc)
                return np.asarray(out, dtype=float)
            return act

        print(f"held-out, 12 users sharing {FIG16A_CAP} px at {FIG16A_LATENCY_S} s:", flush=True)
        res["cap12"] = score(test12, {"fixed": "fixed", "equal": "equal", "hgb_dp": dp_policy("hgb"),
                                      "knn_dp": dp_policy("knn")}, args.cap_states, EVAL_SEED)
    res["seconds"] = round(time.perf_counter() - start, 1)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--states", type=int, default=1000, help="held-out states without a cap (rl.py: 1000)")
    p.add_argument("--train-states", type=int, default=1000, help="train states for choosing T and the models")
    p.add_argument("--cap-states", type=int, default=300, help="held-out states with the cap (0: skip)")
    p.add_argument("--quick", action="store_true", help="a smoke test: one configuration each, fewer states")
    p.add_argument("--out", default=str(RESULTS / "rl_ceiling.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.states, args.train_states, args.cap_states = 200, 200, 20
    res = run(args)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from summaries import save_result

    save_result(res, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
