package main

import (
	"errors"
	"testing"
	"time"

	"github.com/envgym/envgym/gym"
	"github.com/envgym/envgym/gym/play"
)

func TestSummariseExcludesInfraFailures(t *testing.T) {
	var s runSummary
	summarise(&s, []play.Stats{
		{Steps: 10, Return: 1, Success: true},
		{Steps: 20, Return: 0},
		{Steps: 3, Return: 0.5, Infra: true},
	})
	if s.Episodes != 3 || s.InfraFailures != 1 || s.SuccessRate != 0.5 || s.MeanReward != 0.5 || s.MeanSteps != 15 {
		t.Errorf("summary: %+v", s)
	}
	var empty runSummary
	summarise(&empty, []play.Stats{{Infra: true}})
	if empty.SuccessRate != 0 || empty.MeanSteps != 0 || empty.InfraFailures != 1 {
		t.Errorf("all infra: %+v", empty)
	}
}

func TestPickTasks(t *testing.T) {
	spec := gym.Spec{ID: "x/y-v0", Tasks: []gym.Task{{ID: "easy"}, {ID: "hard"}}}
	for _, tc := range []struct {
		spec gym.Spec
		task string
		want []string
		err  error
	}{
		{spec, "", []string{"easy", "hard"}, nil},
		{spec, "hard", []string{"hard"}, nil},
		{spec, "hrad", nil, gym.ErrUnknownTask},
		{gym.Spec{ID: "x/z-v0"}, "", []string{""}, nil},
		{gym.Spec{ID: "x/z-v0"}, "any", []string{"any"}, nil},
	} {
		got, err := pickTasks(tc.spec, tc.task)
		if !errors.Is(err, tc.err) || len(got) != len(tc.want) {
			t.Errorf("pickTasks(%v, %q) = %v, %v", tc.spec.Tasks, tc.task, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("pickTasks(%v, %q) = %v", tc.spec.Tasks, tc.task, got)
			}
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Microsecond
	}
	if p := percentile(ds, 50); p != 50 {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(ds, 99); p != 99 {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("empty p50 = %v", p)
	}
}
