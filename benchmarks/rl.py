"""Bandwidth allocation (Sec. V, Figs. 13-16 of [G-SemCom]): ADD against SB3, simple rules and the exact optimum.

On the bundled utility curves (:func:`gsemlab.rl.curves.bundled`, 300 train and 300 held-out
prompts), every learning method is trained on the train prompts for the same number of environment
steps, with several seeds, and scored on the same held-out states as the rules and the exact optimum:

* ``nocap``: 3 users, no shared cap (Table III). ADD with T = 5 and T = 6, PPO, SAC, TD3.
* ``cap12``: 12 users at 2 s latency sharing ``FIG16A_CAP`` pixels (Fig. 16a's setting).
* ``users``: the rules and the optimum for 1 to 12 users at 2 s with the cap (Fig. 16a), and the
  12-user ADD.
* ``fig16b``: 3 users with Fig. 16b's weights, the optimum, the rules and ADD.
* ``examples``: three held-out states and each method's allocation (Fig. 14).
* ``steps_per_second``: the environment on the curves, 3 and 12 users.

Learning curves are the mean held-out reward at checkpoints. The share of the optimum's gain over
random, ``(R - R_random) / (R_opt - R_random)``, is reported per method. The bundled policies
(``gsemlab/data/rl/``) are the T = 5 seed-0 runs of ``nocap`` and ``cap12``, saved with ``--bundle``.

    python benchmarks/rl.py --steps 30000 --seeds 5 --workers 2 --bundle   # the recorded run
    python benchmarks/rl.py --quick                                        # a smoke test, minutes
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
N_EVAL = 1000  # held-out states of the final scores
N_CURVE = 200  # held-out states at each checkpoint of a learning curve
EVAL_SEED = 10_000


def settings_of(name: str) -> dict:
    from gsemlab.rl import FIG16A_CAP, FIG16A_LATENCY_S, FIG16B_WEIGHTS, PAPER_WEIGHTS

    return {"nocap": dict(n_users=3, shared_cap=None, latency_s=None, weights=PAPER_WEIGHTS),
            "cap12": dict(n_users=12, shared_cap=FIG16A_CAP, latency_s=FIG16A_LATENCY_S, weights=PAPER_WEIGHTS),
            "fig16b": dict(n_users=3, shared_cap=None, latency_s=None, weights=FIG16B_WEIGHTS)}[name]


def make_env(curves, setting: str, split: str, **over):
    from gsemlab.rl import BandwidthAllocationEnv

    kw = {**settings_of(setting), **over}
    return BandwidthAllocationEnv(curves, split=split, **kw)


def references(curves, setting: str, n_states: int = N_EVAL, **over) -> dict:
    from gsemlab.rl import evaluate

    test = make_env(curves, setting, "heldout", **over)
    out = {}
    for m in ("optimum", "random", "fixed", "equal", "size"):
        r = evaluate(test, m, n_states=n_states, seed=EVAL_SEED)
        out[m] = {k: r[k] for k in ("reward", "reward_se", "utility_per_user", "pixels_per_user")}
    return out


def train_one(job: dict) -> dict:
    """One learning run: (setting, method, seed, steps) -> learning curve, final scores, seconds."""
    import torch

    from gsemlab.rl import ADD, ADDSettings, evaluate
    from gsemlab.rl.curves import bundled
    from gsemlab.rl.evaluation import sb3_method

    torch.set_num_threads(1)
    curves = bundled()
    setting, method, seed, steps = job["setting"], job["method"], job["seed"], job["steps"]
    env = make_env(curves, setting, "train")
    test = make_env(curves, setting, "heldout")
    checkpoints = np.unique(np.linspace(0, steps, job.get("n_checkpoints", 9)).astype(int)[1:])
    curve, start = [], time.perf_counter()
    if method.startswith("add"):
        t = int(method.split("_T")[1]) if "_T" in method else 5
        agent = ADD(ADDSettings(n_users=env.n_users, diffusion_steps=t), seed=seed)
        done = 0
        train_s = 0.0
        for c in checkpoints:
            t0 = time.perf_counter()
            agent.fit(env, int(c - done), seed=seed * 1000 + len(curve))
            train_s += time.perf_counter() - t0
            done = int(c)
            curve.append([done, evaluate(test, agent.act, n_states=N_CURVE, seed=EVAL_SEED + 1)["reward"]])
        act = agent.act
        if job.get("save"):
            agent.save(job["save"])
    else:
        from gsemlab.rl.sb3 import make_sb3

        model = make_sb3(method, env, seed=seed)
        done, train_s = 0, 0.0
        for c in checkpoints:
            t0 = time.perf_counter()
            model.learn(int(c - done), reset_num_timesteps=done == 0)
            train_s += time.perf_counter() - t0
            done = int(c)
            curve.append([done, evaluate(test, sb3_method(model, env), n_states=N_CURVE, seed=EVAL_SEED + 1)["reward"]])
        act = sb3_method(model, env)
    final = evaluate(test, act, n_states=N_EVAL, seed=EVAL_SEED)
    example = None
    if job.get("examples"):
        from gsemlab.rl.evaluation import draw_states

        obs, _ = draw_states(test, 3, job["examples"])
        example = np.asarray(act(obs)).tolist()
    return {**{k: job[k] for k in ("setting", "method", "seed", "steps")},
            "reward": final["reward"], "reward_se": final["reward_se"],
            "utility_per_user": final["utility_per_user"], "pixels_per_user": final["pixels_per_user"],
            "clipped": final["clipped"], "curve": curve, "train_seconds": train_s,
            "seconds": time.perf_counter() - start, "examples": example}


def steps_per_second(curves, n_users: int, seconds: float = 3.0) -> float:
    env = make_env(curves, "nocap", "train", n_users=n_users)
    env.reset(seed=0)
    a = np.full(n_users, 500.0)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        env.reset()
        env.step(a)
        n += 1
    return n / (time.perf_counter() - t)


def summarise(runs: list[dict], refs: dict) -> dict:
    from gsemlab.rl import gain_share

    out = {}
    for method in sorted({r["method"] for r in runs}):
        rs = [r for r in runs if r["method"] == method]
        rewards = np.array([r["reward"] for r in rs])
        shares = np.array([gain_share(r["reward"], refs["random"]["reward"], refs["optimum"]["reward"]) for r in rs])
        curves = np.array([[c[1] for c in r["curve"]] for r in rs])
        out[method] = {
            "seeds": [r["seed"] for r in rs], "reward_per_seed": rewards.tolist(), "share_per_seed": shares.tolist(),
            "reward_mean": float(rewards.mean()), "reward_sd": float(rewards.std(ddof=1)) if len(rs) > 1 else 0.0,
            "share_mean": float(shares.mean()), "share_min": float(shares.min()),
            "utility_per_user": float(np.mean([r["utility_per_user"] for r in rs])),
            "pixels_per_user": float(np.mean([r["pixels_per_user"] for r in rs])),
            "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
            "curve_steps": [c[0] for c in rs[0]["curve"]], "curve_mean": curves.mean(axis=0).tolist(),
            "curve_min": curves.min(axis=0).tolist(), "curve_max": curves.max(axis=0).tolist(),
        }
    return out


def run(args) -> dict:
    from gsemlab.rl.curves import bundled
    from gsemlab.rl.evaluation import draw_states

    curves = bundled()
    start = time.perf_counter()
    res = {"benchmark": "rl", "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
           "machine": platform.machine(), "workers": args.workers, "steps": args.steps,
           "seeds": list(range(args.seeds)), "n_eval_states": N_EVAL, "eval_seed": EVAL_SEED,
           "curves": {"n_train": int(curves.indices("train").size), "n_heldout": int(curves.indices("heldout").size)}}
    res["steps_per_second"] = {str(n): steps_per_second(curves, n) for n in (3, 12)}
    print("steps/s", res["steps_per_second"], flush=True)
    refs = {s: references(curves, s) for s in ("nocap", "cap12", "fig16b")}
    res["users"] = {"n_users": list(range(1, 13)), **{m: [] for m in ("optimum", "random", "fixed", "equal", "size")}}
    for n in range(1, 13):
        r = references(curves, "cap12", n_states=300, n_users=n)
        for m in r:
            res["users"][m].append(r[m]["utility_per_user"])
    print("references done", f"{time.perf_counter() - start:.0f} s", flush=True)
    jobs = []
    bundle_dir = ROOT / "gsemlab" / "data" / "rl"
    for seed in range(args.seeds):
        for method in args.methods:
            jobs.append({"setting": "nocap", "method": method, "seed": seed, "steps": args.steps,
                         "examples": EVAL_SEED + 7 if seed == 0 else None,
                         "save": str(bundle_dir / "add_n3") if args.bundle and seed == 0 and method == "add_T5" else None})
    for seed in range(args.cap_seeds):
        for method in args.cap_methods:
            jobs.append({"setting": "cap12", "method": method, "seed": seed, "steps": args.cap_steps,
                         "save": str(bundle_dir / "add_n12_cap") if args.bundle and seed == 0 and method == "add_T5"
                         else None})
    if args.fig16b:
        jobs.append({"setting": "fig16b", "method": "add_T5", "seed": 0, "steps": args.steps,
                     "examples": EVAL_SEED + 7})
    if args.bundle:
        bundle_dir.mkdir(parents=True, exist_ok=True)
    if args.workers > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            runs = []
            for r in pool.imap_unordered(train_one, jobs):
                print(f"{r['setting']} {r['method']} seed {r['seed']}: reward {r['reward']:.1f} "
                      f"({r['train_seconds']:.0f} s)", flush=True)
                runs.append(r)
    else:
        runs = []
        for job in jobs:
            r = train_one(job)
            print(f"{r['setting']} {r['method']} seed {r['seed']}: reward {r['reward']:.1f} "
                  f"({r['train_seconds']:.0f} s)", flush=True)
            runs.append(r)
    for setting in ("nocap", "cap12", "fig16b"):
        rs = [r for r in runs if r["setting"] == setting]
        res[setting] = {"settings": {k: v for k, v in settings_of(setting).items()}, "references": refs[setting],
                        "methods": summarise(rs, refs[setting]) if rs else {}}
    cap_add = [r for r in runs if r["setting"] == "cap12" and r["method"] == "add_T5"]
    res["users"]["add_T5_at_12"] = float(np.mean([r["utility_per_user"] for r in cap_add])) if cap_add else None
    # Fig. 14: three held-out states, each method's allocation
    test = make_env(curves, "nocap", "heldout")
    obs, states = draw_states(test, 3, EVAL_SEED + 7)
    ex = {"prompts": [s["users"].tolist() for s in states], "bound": [s["bound"].tolist() for s in states],
          "packet_pixels": [s["packet"].tolist() for s in states], "allocations": {}}
    for k, s in enumerate(states):
        test.unwrapped.state = s
        ex["allocations"].setdefault("optimum", []).append(test.unwrapped.optimal_action().tolist())
    for r in runs:
        if r["setting"] == "nocap" and r["examples"] is not None:
            ex["allocations"][r["method"]] = r["examples"]
    res["examples"] = ex
    fig = [r for r in runs if r["setting"] == "fig16b" and r["examples"] is not None]
    if fig:
        t16 = make_env(curves, "fig16b", "heldout")
        obs, states = draw_states(t16, 3, EVAL_SEED + 7)
        opt = []
        for s in states:
            t16.unwrapped.state = s
            opt.append(t16.unwrapped.optimal_action().tolist())
        res["fig16b"]["examples"] = {"add_T5": fig[0]["examples"], "optimum": opt,
                                     "bound": [s["bound"].tolist() for s in states]}
    res["runs"] = [{k: v for k, v in r.items() if k != "examples"} for r in runs]
    res["seconds"] = round(time.perf_counter() - start, 1)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30_000, help="environment steps of every learning run (nocap)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--methods", nargs="+", default=["add_T5", "add_T6", "ppo", "sac", "td3"])
    p.add_argument("--cap-steps", type=int, default=30_000)
    p.add_argument("--cap-seeds", type=int, default=2)
    p.add_argument("--cap-methods", nargs="+", default=["add_T5", "ppo", "sac", "td3"])
    p.add_argument("--fig16b", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--bundle", action="store_true", help="save the seed-0 T = 5 policies as package data")
    p.add_argument("--quick", action="store_true", help="a smoke test: 2000 steps, 1 seed")
    p.add_argument("--out", default=str(RESULTS / "rl.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.cap_steps, args.cap_seeds = 600, 1, 600, 1
        args.methods, args.cap_methods = ["add_T5", "ppo"], ["add_T5"]
    res = run(args)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from summaries import save_result

    save_result(res, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
