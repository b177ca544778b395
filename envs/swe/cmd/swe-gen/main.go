// Command swe-gen generates validated SWE tasks (swe/gomut-v0's task
// set) with a progress bar and writes them as JSONL.
//
//	go run ./envs/swe/cmd/swe-gen -n 200 -seed 0 -o tasks.jsonl
//
// Tasks are cached under -cache (the env's default cache dir unless
// given), so the env finds them without generating again. -export DIR
// writes a self-contained set instead: DIR/tasks.jsonl with repo paths
// relative to it and the repos they use under DIR/repos (how
// envs/swe/testdata/gomut-s0-n200 was made).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/envgym/envgym/envs/swe"
)

func main() {
	n := flag.Int("n", 200, "tasks to generate")
	seed := flag.Int64("seed", 0, "generator seed")
	out := flag.String("o", "", "write the tasks here as JSONL (default: only the cache)")
	cache := flag.String("cache", "", "cache dir (default <user cache>/envgym/swe, the env's)")
	pkgs := flag.String("packages", "", "comma-separated GOROOT packages (default swe.DefaultPackages)")
	workers := flag.Int("workers", 0, "parallel builds and test runs (default the number of CPUs)")
	export := flag.String("export", "", "write DIR/tasks.jsonl and DIR/repos/ (relative repo paths)")
	flag.Parse()
	if *cache == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			log.Fatal(err)
		}
		*cache = filepath.Join(c, "envgym", "swe")
	}
	cfg := swe.GenConfig{Seed: *seed, N: *n, CacheDir: *cache, Workers: *workers, Progress: os.Stderr}
	if *pkgs != "" {
		cfg.Packages = strings.Split(*pkgs, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	tasks, err := swe.Generate(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "%d tasks (seed %d) in %v\n", len(tasks), *seed, time.Since(start).Round(time.Second))
	if *export != "" {
		if err := exportTasks(*export, tasks); err != nil {
			log.Fatal(err)
		}
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			log.Fatal(err)
		}
		if err := swe.WriteTasks(f, tasks); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}

// exportTasks copies the tasks' repos under dir/repos and writes
// dir/tasks.jsonl pointing at them relatively.
func exportTasks(dir string, tasks []swe.Task) error {
	copied := map[string]string{}
	for i := range tasks {
		src := tasks[i].Repo
		rel, ok := copied[src]
		if !ok {
			rel = filepath.Join("repos", filepath.Base(src))
			if err := os.CopyFS(filepath.Join(dir, rel), os.DirFS(src)); err != nil {
				return fmt.Errorf("export %s: %w", src, err)
			}
			copied[src] = rel
		}
		tasks[i].Repo = rel
	}
	f, err := os.Create(filepath.Join(dir, "tasks.jsonl"))
	if err != nil {
		return err
	}
	if err := swe.WriteTasks(f, tasks); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
