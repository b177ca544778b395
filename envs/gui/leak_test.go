package gui

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envgym/envgym/envs/gui/desktop"
	"github.com/envgym/envgym/envs/gui/phone"
	"github.com/envgym/envgym/gym"
)

// descendants counts the live processes below this test process by
// command name (zombies not counted).
func descendants() map[string]int {
	type proc struct {
		ppid  int
		comm  string
		state byte
	}
	procs := map[int]proc{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if l < 0 || r < l || r+4 > len(s) {
			continue
		}
		f := strings.Fields(s[r+2:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		procs[pid] = proc{ppid: ppid, comm: s[l+1 : r], state: f[0][0]}
	}
	self := os.Getpid()
	out := map[string]int{}
	for _, p := range procs {
		if p.state == 'Z' || p.state == 'X' {
			continue
		}
		for q, hops := p.ppid, 0; q > 1 && hops < 64; q, hops = procs[q].ppid, hops+1 {
			if q == self {
				out[p.comm]++
				break
			}
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func show(m map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// TestNoLeakedProcesses resets a phone and a desktop many times (each
// desktop episode launches an X program, each phone episode plays part of
// an oracle) and checks the process count stays flat and falls back to
// where it started once both close. GUIGYM_RESETS (200 for the issue's
// check) sets the count; the default keeps `go test` short.
func TestNoLeakedProcesses(t *testing.T) {
	n := 8
	if v, err := strconv.Atoi(os.Getenv("GUIGYM_RESETS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	before := descendants()
	ph, err := phone.NewSuite(phone.Options{}).New(gym.Spec{ID: "gui/phone-v0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := desktop.New(gym.Spec{ID: "gui/desktop-v0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			ph.Close()
			dk.Close()
		}
	}()
	ptasks, dtasks := phone.TaskIDs(), desktop.TaskIDs()
	apps := []string{"terminal", "calculator", "editor"}
	var counts []int
	for i := range n {
		if _, err := ph.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: ptasks[i%len(ptasks)].ID}); err != nil {
			t.Fatalf("phone reset %d: %v", i, err)
		}
		for range 2 {
			a, err := ph.OracleAction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ph.Step(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dk.Reset(ctx, gym.ResetOptions{Seed: int64(i), TaskID: dtasks[i%len(dtasks)].ID}); err != nil {
			t.Fatalf("desktop reset %d: %v", i, err)
		}
		res, err := dk.Step(ctx, fmt.Sprintf(`{"action_type":"open_app","app_name":%q}`, apps[i%len(apps)]))
		if err != nil || res.Status != gym.StatusOK {
			t.Fatalf("desktop open_app %d: %v %s %s", i, err, res.Status, res.Observation.Text)
		}
		// Counted with one X program up: the last episode's must be gone.
		now := descendants()
		counts = append(counts, total(now))
		if i == 0 || (i+1)%max(1, n/5) == 0 || i == n-1 {
			t.Logf("after %d resets per backend: %d processes (%s)", i+1, total(now), show(now))
		}
	}
	// Chromium may add or drop a helper process in steady state; a leak
	// grows with the number of resets.
	lo, hi := slices.Min(counts), slices.Max(counts)
	if hi-lo > 3 {
		t.Errorf("process count drifted from %d to %d over %d resets: %v", lo, hi, n, counts)
	}
	if n >= 20 && counts[len(counts)-1] > counts[len(counts)/2]+2 {
		t.Errorf("process count still growing: %v", counts)
	}
	ph.Close()
	dk.Close()
	closed = true
	var after map[string]int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if after = descendants(); total(after) <= total(before) {
			break
		}
	}
	t.Logf("before: %d (%s); after close: %d (%s)", total(before), show(before), total(after), show(after))
	if total(after) > total(before) {
		t.Errorf("%d processes left after Close: %s", total(after)-total(before), show(after))
	}
}
