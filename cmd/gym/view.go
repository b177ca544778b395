package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/envgym/envgym/view"
)

func newViewCmd(a *app) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "view RUN.jsonl|TRAIN_DIR [more …]",
		Short: "Look at recorded episodes and training runs in the browser",
		Long: `View serves a local web page over trajectory files and training runs and
prints its URL; it runs until interrupted (Ctrl-C).

  - runs → episodes: a sortable, filterable table (env, task, seed, policy,
    return, success, steps, status counts, duration);
  - an episode: a step-by-step timeline with the observation (the element the
    action targeted highlighted), the screenshot when recorded (gym run
    --screenshots), action, reward, status, the policy's info (an LLM's reply
    and token usage), step time; ← → or j k move between steps;
  - compare two runs of the same env and seeds: success per seed, and for one
    seed both episodes step against step with the first difference marked;
  - a gym train --out folder: the metrics curves and its recorded evaluation
    episodes.

Files are read on demand: a run of 10k episodes opens as fast as its
manifest file reads. Problems in the files (a truncated last line, a missing
screenshot, a manifest without steps, mixed env versions) show as notices on
the page.`,
		Example: `  gym run text/maze-v0 --policy oracle --episodes 20 --out runs/oracle.jsonl
  gym run text/maze-v0 --policy random --episodes 20 --out runs/random.jsonl
  gym view runs/oracle.jsonl runs/random.jsonl
  gym run web/shop-v0 --policy oracle --screenshots --out runs/shop.jsonl && gym view runs/shop.jsonl
  gym view runs/ckpt            # a gym train --out folder`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, err := view.New(args)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("view: listen %s: %w", addr, err)}
			}
			h := srv.Handler()
			if host, _, _ := net.SplitHostPort(addr); isLoopbackHost(host) {
				h = view.LocalOnly(h)
			}
			hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			url := "http://" + ln.Addr().String() + "/"
			if a.json {
				a.writeJSON(map[string]any{"url": url, "runs": len(srv.Runs())})
			} else {
				fmt.Fprintf(a.stdout, "gym view: %s  (%d runs; Ctrl-C to stop)\n", url, len(srv.Runs()))
			}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				return nil
			}
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address (port 0: any free port); on a loopback address only loopback Host names are answered")
	return cmd
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
