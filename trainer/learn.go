package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/sugarme/gotch/nn"
)

// learn runs the RL iterations of cfg on pol over envs (closed when it
// returns), evaluates the result and saves it when cfg.OutDir is set.
//
// demos are the warm start's oracle episodes (for cfg.ProgressDemos).
func learn(ctx context.Context, cfg Config, pol *Policy, envs []gym.Env, rep Report, demos []episode) (Report, error) {
	opt, err := nn.DefaultAdamConfig().Build(pol.vs, cfg.LR)
	if err != nil {
		for _, e := range envs {
			e.Close()
		}
		return rep, fmt.Errorf("trainer: optimizer: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), learnStream))
	var prog *Progress
	if cfg.Reward != RewardOutcome {
		if prog, err = NewProgress(pol.Tok, cfg.Policy.Embed, cfg.Policy.Hidden, cfg.LR, pol.Device); err != nil {
			for _, e := range envs {
				e.Close()
			}
			return rep, fmt.Errorf("trainer: progress estimator: %w", err)
		}
		prog.SetBuffer(cfg.ProgressBuffer, cfg.Seed)
		if cfg.ProgressDemos && len(demos) > 0 {
			// The demonstrations are the only episodes known to succeed
			// before RL starts; with them the estimator has positive
			// examples from its first fit (without, the few early
			// successes are drowned by failures).
			ds := make([]episode, len(demos))
			for i, d := range demos {
				ds[i] = d
				ds[i].byRet = cfg.byReturn()
			}
			prog.Add(ds)
		}
	}
	// A resumed run starts its episodes past the seeds the earlier run
	// could have used (at most one episode per env step).
	col, err := newCollector(ctx, envs, gym.ResetOptions{Seed: cfg.Seed + int64(rep.EnvSteps), TaskID: cfg.Task})
	if err != nil {
		for _, e := range envs {
			e.Close()
		}
		return rep, err
	}
	col.distract = cfg.Distractors
	_, hasOracle := gym.Capable[gym.Oracle](envs[0])
	col.oracle = prog != nil && hasOracle
	defer col.vec.Close()
	ml, err := openMetrics(cfg)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	startSteps := rep.EnvSteps
	for it := rep.resumedIters; ; it++ {
		if cfg.Steps > 0 && rep.EnvSteps >= cfg.Steps || cfg.Steps <= 0 && it-rep.resumedIters >= cfg.Iterations {
			break
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("trainer: %w", err)
		}
		var eps []episode
		var n int
		t0 := time.Now()
		if cfg.Algo == AlgoGRPO {
			eps, n, err = grpoCollect(ctx, pol, col.vec, cfg, int64(it), rng)
		} else {
			eps, n, err = col.collect(ctx, pol, cfg.StepsPerIter, rng)
		}
		if err != nil {
			return rep, err
		}
		rep.EnvSteps += n
		st := IterStats{Iter: it, EnvSteps: rep.EnvSteps, RolloutSec: time.Since(t0).Seconds()}
		t1 := time.Now()
		scored, infra := splitInfra(eps)
		st.InfraEpisodes = infra
		for i := range scored {
			scored[i].byRet = cfg.byReturn()
		}
		for _, e := range scored {
			if e.success {
				st.Success++
			}
			st.Return += e.ret
		}
		st.Episodes = len(scored)
		nsteps := 0
		for _, e := range scored {
			for _, s := range e.steps {
				nsteps++
				if !s.grounded {
					st.Invalid++
				}
			}
		}
		if st.Episodes > 0 {
			st.Success /= float64(st.Episodes)
			st.Return /= float64(st.Episodes)
			st.Invalid /= float64(nsteps)
			mean, v := 0.0, 0.0
			for _, e := range scored {
				mean += e.outcome() / float64(len(scored))
			}
			for _, e := range scored {
				v += (e.outcome() - mean) * (e.outcome() - mean) / float64(len(scored))
			}
			st.OutcomeVar = v
		}
		rep.InfraEpisodes += st.InfraEpisodes
		rewards := outcomeRewards(scored)
		if prog != nil {
			// Warm-started minibatch fit on the recent-episode buffer; the
			// fresh episodes are scored before the estimator trains on them.
			t2 := time.Now()
			st.ProgressHeldMSE = prog.SumMSE(scored)
			prog.Add(scored)
			if st.ProgressMSE, err = prog.Train(cfg.ProgressSteps, cfg.ProgressBatch); err != nil {
				return rep, fmt.Errorf("trainer: fit progress: %w", err)
			}
			contrib := prog.Contributions(scored)
			st.ProgressSec = time.Since(t2).Seconds()
			// The gate: SPA's credit replaces the outcome only after the
			// warm-up iterations and while the estimator, on this batch's
			// episodes before it trained on them, predicts their outcomes
			// better than a constant (the batch mean) would. Otherwise the
			// iteration trains on the outcome alone.
			st.SPAGate = it-rep.resumedIters >= cfg.SPAWarmup && st.ProgressHeldMSE < st.OutcomeVar
			if st.SPAGate {
				rep.SPAGateOpen++
			}
			var nOr, nOther float64
			for i, e := range scored {
				for t, s := range e.steps {
					if col.oracle {
						if s.oracle {
							nOr++
							st.ContribOracle += contrib[i][t]
						} else {
							nOther++
							st.ContribOther += contrib[i][t]
						}
					}
					if !st.SPAGate {
						continue
					}
					r := contrib[i][t]
					if cfg.Reward != RewardSPANoGrounding && !s.grounded {
						r -= cfg.Grounding // grounding: λ·(1[OK] - 1)
					}
					if cfg.Reward == RewardSPAOutcome && t == len(e.steps)-1 {
						// The estimator's credit as shaping on top of the
						// true outcome, so its errors on fresh episodes
						// cannot replace the real signal.
						r += e.outcome()
					}
					rewards[i][t] = r
				}
			}
			if nOr+nOther > 0 {
				st.OracleShare = nOr / (nOr + nOther)
				st.ContribOracle /= max(nOr, 1)
				st.ContribOther /= max(nOther, 1)
			}
		}
		var items []trainItem
		if cfg.Algo == AlgoGRPO {
			items = grpoItems(scored, cfg.NumEnvs)
		} else {
			items = ppoItems(scored, rewards, cfg.Gamma, cfg.GAELambda)
			normalise(items)
		}
		if len(items) > 0 {
			us, err := pol.update(opt, items, cfg.Epochs, cfg.Minibatch, cfg.ClipEps, cfg.ValueCoef, cfg.EntropyCoef, cfg.TargetKL, cfg.Algo == AlgoPPO, rng)
			if err != nil {
				return rep, fmt.Errorf("trainer: update: %w", err)
			}
			st.Loss, st.ValueLoss, st.Entropy, st.ApproxKL, st.ClipFrac = us.Loss, us.ValueLoss, us.Entropy, us.ApproxKL, us.ClipFrac
		}
		st.UpdateSec = time.Since(t1).Seconds()
		st.StepsPerSec = float64(rep.EnvSteps-startSteps) / time.Since(start).Seconds()
		rep.Iters = append(rep.Iters, st)
		if err := ml.iteration(cfg, pol, st); err != nil {
			return rep, err
		}
		if cfg.Progress != nil {
			cfg.Progress(st)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.StepsPerSec = float64(rep.EnvSteps-startSteps) / rep.Seconds
	ev, err := evaluateVec(ctx, pol, envs, cfg.Task, cfg.evalSeed(), cfg.EvalEpisodes, cfg.Distractors)
	if err != nil {
		return rep, err
	}
	rep.SuccessAfter, rep.ReturnAfter, rep.EvalWins = ev.Success, ev.Return, ev.Wins
	if cfg.OutDir != "" {
		if err := pol.Save(cfg.OutDir); err != nil {
			return rep, err
		}
		if ml == nil { // no iterations ran: still a resumable checkpoint
			if err := writeJSON(filepath.Join(cfg.OutDir, stateFile), runState{EnvID: cfg.EnvID, Task: cfg.Task, EnvSteps: rep.EnvSteps}); err != nil {
				return rep, err
			}
		}
	}
	if err := ml.finish(cfg, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// splitInfra separates the episodes that enter the loss from those that
// hit an infrastructure failure (CRASHED, TIMEOUT, ENV_ERROR, or an env
// error): those are counted, never scored (a crash is not the policy's
// failure).
func splitInfra(eps []episode) (scored []episode, infra int) {
	for _, e := range eps {
		if e.infra {
			infra++
			continue
		}
		scored = append(scored, e)
	}
	return scored, infra
}

// outcomeRewards gives each episode's per-step rewards for outcome-only
// training: 0 everywhere but the last step, which gets the outcome.
func outcomeRewards(eps []episode) [][]float64 {
	rewards := make([][]float64, len(eps))
	for i, e := range eps {
		rewards[i] = make([]float64, len(e.steps))
		if n := len(e.steps); n > 0 {
			rewards[i][n-1] = e.outcome()
		}
	}
	return rewards
}

// ppoItems gives every step of eps its GAE advantage and return under
// rewards (per episode, per step), with the values recorded in rollout.
func ppoItems(eps []episode, rewards [][]float64, gamma, lambda float64) []trainItem {
	var items []trainItem
	for i, e := range eps {
		vals := make([]float64, len(e.steps))
		for t, s := range e.steps {
			vals[t] = s.value
		}
		adv, ret := GAE(rewards[i], vals, gamma, lambda)
		for t, s := range e.steps {
			items = append(items, trainItem{s: s.sample, act: s.act, oldLogp: s.logp, adv: adv[t], ret: ret[t]})
		}
	}
	return items
}
