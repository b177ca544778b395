package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/trajectory"
)

type replayReport struct {
	File       string                `json:"file"`
	Episodes   int                   `json:"episodes"`
	Steps      int                   `json:"steps"`
	Identical  int                   `json:"identical_episodes"`
	Mismatches []trajectory.Mismatch `json:"mismatches"`
}

func newReplayCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "replay FILE.jsonl",
		Short: "Replay recorded episodes against the same env and seed; report any step that differs",
		Long: `Replay reads FILE.jsonl and FILE.manifest.jsonl (written by gym run --out),
resets the same env id with each episode's seed and task, plays the recorded
actions and compares every observation, reward and status with the
recording. A deterministic env reproduces its episodes exactly; anything
else is a bug in the env or a change of its version (the manifest records
the env version and the plugin's sha256, and replay warns when they differ).

Exit code 1 when any step differs.`,
		Example: `  gym run text/maze-v0 --policy oracle --episodes 6 --out runs/maze.jsonl
  gym replay runs/maze.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := replay(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			if a.json {
				if err := a.writeJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "%s: %d episodes, %d steps, %d identical\n", rep.File, rep.Episodes, rep.Steps, rep.Identical)
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				for _, m := range rep.Mismatches {
					fmt.Fprintf(tw, "  %s\tstep %d\t%s\trecorded %q\treplayed %q\n", m.EpisodeID, m.Step, m.Field, clipText(m.Recorded), clipText(m.Replayed))
				}
				tw.Flush()
			}
			if len(rep.Mismatches) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d steps differ from the recording", len(rep.Mismatches))}
			}
			return nil
		},
	}
}

func clipText(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func replay(ctx context.Context, a *app, path string) (replayReport, error) {
	rep := replayReport{File: path, Mismatches: []trajectory.Mismatch{}}
	steps, err := trajectory.ReadSteps(path)
	if err != nil {
		return rep, err
	}
	manifests, err := trajectory.ReadManifests(trajectory.ManifestPath(path))
	if err != nil {
		return rep, err
	}
	byEpisode := trajectory.Episodes(steps)
	reg := gym.NewRegistry()
	defer a.hostEnvs(reg).Close()
	envs := map[string]gym.Env{}
	warned := map[string]bool{}
	defer func() {
		for _, e := range envs {
			e.Close()
		}
	}()
	for _, m := range manifests {
		env, ok := envs[m.EnvID]
		if !ok {
			if env, err = reg.Make(ctx, m.EnvID, nil); err != nil {
				return rep, fmt.Errorf("episode %s: %w", m.EpisodeID, err)
			}
			envs[m.EnvID] = env
			spec := env.Spec()
			if spec.Version != m.EnvVersion || (m.PluginSHA256 != "" && spec.Components["plugin_sha256"] != m.PluginSHA256) {
				a.warn("%s: recorded with version %s (plugin %s), replaying version %s (plugin %s)",
					m.EnvID, m.EnvVersion, short(m.PluginSHA256), spec.Version, short(spec.Components["plugin_sha256"]))
			}
		}
		// A component that changed (the Chromium version, a corpus hash)
		// explains differences the env's own version does not.
		if changed := changedComponents(m.Components, env.Spec().Components); len(changed) > 0 && !warned[m.EnvID] {
			warned[m.EnvID] = true
			a.warn("%s: components differ from the recording: %s", m.EnvID, strings.Join(changed, ", "))
		}
		eps := byEpisode[m.EpisodeID]
		rep.Episodes++
		rep.Steps += len(eps)
		diffs, err := trajectory.Replay(ctx, env, m, eps)
		if err != nil {
			return rep, err
		}
		if len(diffs) == 0 {
			rep.Identical++
		}
		rep.Mismatches = append(rep.Mismatches, diffs...)
	}
	return rep, nil
}

// changedComponents lists "name recorded -> now" for the components both
// the recording and the running env name, where they differ.
func changedComponents(recorded, now map[string]string) []string {
	var out []string
	for k, v := range recorded {
		if w, ok := now[k]; ok && w != v && k != "plugin_sha256" {
			out = append(out, fmt.Sprintf("%s %s -> %s", k, short(v), short(w)))
		}
	}
	sort.Strings(out)
	return out
}
