// Package torch is the one place where libtorch (through gotch) is set up
// for a session: its seed, its thread counts and its device, and the
// locked OS thread every libtorch session must run on.
//
// libtorch's grad mode and gotch's last error are per OS thread, so a
// goroutine that trains or evaluates must stay on one thread: OnThread
// does that. Thread counts are fixed (not left to libtorch's default of
// one per core) so that the same seed gives the same numbers on machines
// with different core counts.
package torch

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// DefaultThreads is the intra-op thread count when a caller passes 0: the
// nets are small, extra threads cost more than they give on a busy
// machine, and one thread makes float reductions happen in one order.
const DefaultThreads = 1

// OnThread runs f on a goroutine locked to its OS thread and returns a
// libtorch panic as an error prefixed by pkg.
func OnThread(pkg string, f func() error) error {
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%s: libtorch: %v", pkg, r)
			}
		}()
		err = f()
	})
	wg.Wait()
	return err
}

// Setup seeds libtorch, fixes its intra-op thread count and OpenBLAS's
// (threads ≤ 0: DefaultThreads) and picks the device: CUDA when libtorch reports it,
// else CPU. Call it on the thread that will use libtorch.
func Setup(seed int64, threads int) (gotch.Device, error) {
	if threads <= 0 {
		threads = DefaultThreads
	}
	if err := ts.ManualSeed(seed); err != nil {
		return gotch.CPU, fmt.Errorf("torch: seed: %w", err)
	}
	if err := ts.SetNumThreads(threads); err != nil {
		return gotch.CPU, fmt.Errorf("torch: threads: %w", err)
	}
	setBLASThreads(threads)
	return gotch.CudaIfAvailable(), nil
}

// Seed reseeds libtorch's generator (e.g. so that every arm of an
// experiment starts from the same random state).
func Seed(seed int64) error {
	if err := ts.ManualSeed(seed); err != nil {
		return fmt.Errorf("torch: seed: %w", err)
	}
	return nil
}
