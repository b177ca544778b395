package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/envgym/envgym/internal/stats"
)

// TestSandboxCost times a browser start (to the first tab) and an
// episode's page in a fresh context with Chromium's own sandbox on and
// off, alternating in one run. Chromium allows its sandbox only to
// unprivileged users, so run the test binary as one, e.g.
//
//	go test -c -o /tmp/b.test ./envs/web/browser
//	WEBGYM_SANDBOX_COST=1 HOME=/tmp/x TMPDIR=/tmp/x setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/b.test -test.run TestSandboxCost -test.v
func TestSandboxCost(t *testing.T) {
	if os.Getenv("WEBGYM_SANDBOX_COST") == "" {
		t.Skip("set WEBGYM_SANDBOX_COST=1 and run as an unprivileged user to time Chromium's own sandbox")
	}
	if !DetectSandbox().On {
		t.Fatalf("Chromium's sandbox cannot run here: %s", DetectSandbox())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, formPage) }))
	defer srv.Close()
	ctx := context.Background()
	starts := map[bool][]time.Duration{}
	opens := map[bool][]time.Duration{}
	for round := 0; round < 6; round++ {
		for _, off := range []bool{false, true} {
			m := NewManager(Options{NoSandbox: off})
			t0 := time.Now()
			tab, err := m.NewTab(ctx)
			if err != nil {
				t.Fatal(err)
			}
			starts[off] = append(starts[off], time.Since(t0))
			if got := m.Sandbox().On; got == off {
				t.Fatalf("sandbox on=%v, want %v: %s", got, !off, m.Sandbox())
			}
			tab.Close()
			for i := 0; i < 8; i++ {
				s, err := m.NewSession(ctx, SessionOptions{Policy: true})
				if err != nil {
					t.Fatal(err)
				}
				s.SetHosts(Hosts{srv.Listener.Addr().String()})
				time.Sleep(100 * time.Millisecond) // as a spare made during the last episode
				t1 := time.Now()
				if _, err := s.Active().Open(ctx, srv.URL, 400); err != nil {
					t.Fatal(err)
				}
				opens[off] = append(opens[off], time.Since(t1))
				s.Close()
			}
			m.Close()
		}
	}
	for _, off := range []bool{false, true} {
		t.Logf("sandbox on=%-5v start p50 %6.1f ms  fresh-context open p50 %6.1f ms p90 %6.1f ms (n=%d)", !off,
			ms(stats.Percentile(starts[off], 50)), ms(stats.Percentile(opens[off], 50)), ms(stats.Percentile(opens[off], 90)), len(opens[off]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
