package trainer

// IterStats is one iteration's figures.
type IterStats struct {
	Iter          int     `json:"iter"`
	EnvSteps      int     `json:"env_steps"` // cumulative
	Episodes      int     `json:"episodes"`
	Success       float64 `json:"success"`
	Return        float64 `json:"return"` // mean env return of scored episodes
	InfraEpisodes int     `json:"infra_episodes"`
	Loss          float64 `json:"loss"`
	ValueLoss     float64 `json:"value_loss"`
	Entropy       float64 `json:"entropy"`   // mean policy entropy, nats
	ApproxKL      float64 `json:"approx_kl"` // old vs new policy on the batch, last epoch
	ClipFrac      float64 `json:"clip_frac"`
	// SPA estimator: sum-MSE (Σ_t c_t vs outcome) of its minibatches this
	// iteration, and on this iteration's fresh episodes before it saw them;
	// OutcomeVar is the MSE of predicting the batch's mean outcome (what a
	// constant estimator would get).
	ProgressMSE float64 `json:"progress_mse,omitempty"`
	// SPAGate: SPA's stepwise rewards were used this iteration (past the
	// warm-up, and ProgressHeldMSE < OutcomeVar); else the outcome.
	SPAGate         bool    `json:"spa_gate"`
	ProgressHeldMSE float64 `json:"progress_held_mse,omitempty"`
	OutcomeVar      float64 `json:"outcome_var,omitempty"`
	// Credit assignment (SPA, envs with an oracle): the share of steps whose
	// action is the oracle's, and the mean contribution c_t on those steps
	// and on the others.
	OracleShare   float64 `json:"oracle_share,omitempty"`
	ContribOracle float64 `json:"contrib_oracle,omitempty"`
	ContribOther  float64 `json:"contrib_other,omitempty"`
	Invalid       float64 `json:"invalid"`     // share of steps whose action the env rejected (not grounded)
	StepsPerSec   float64 `json:"steps_per_s"` // env steps per second of the whole run so far
	RolloutSec    float64 `json:"rollout_s"`   // this iteration's rollout time
	UpdateSec     float64 `json:"update_s"`    // this iteration's SPA fit + update time
	ProgressSec   float64 `json:"progress_s"`  // of which the SPA estimator's fit and scoring
}

// Report summarises a run.
type Report struct {
	Device           string      `json:"device"`
	Iters            []IterStats `json:"iters"`
	EnvSteps         int         `json:"env_steps"`
	InfraEpisodes    int         `json:"infra_episodes"`    // excluded from the loss
	SuccessUntrained float64     `json:"success_untrained"` // sampled, before any training
	SuccessBefore    float64     `json:"success_before"`    // sampled, after the BC warm start (if any)
	SuccessAfter     float64     `json:"success_after"`
	Task             string      `json:"task"`
	SPAGateOpen      int         `json:"spa_gate_open_iters"` // iterations that trained on SPA's rewards (the gate open)
	BCSteps          int         `json:"bc_steps,omitempty"`  // oracle steps cloned in the warm start
	BCMissed         int         `json:"bc_missed,omitempty"` // oracle actions that were not among the candidates (not cloned)
	ReturnAfter      float64     `json:"return_after"`        // mean env return of the evaluation episodes after training
	EvalWins         []float64   `json:"eval_wins,omitempty"` // per evaluation episode after training: 1 if it succeeded, else 0 (for confidence intervals)
	StepsPerSec      float64     `json:"steps_per_s"`
	Seconds          float64     `json:"seconds"` // wall time of the RL iterations (not the warm start or the evaluations)

	resumedIters int // iterations of the run this one resumed
}
