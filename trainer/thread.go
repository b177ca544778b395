package trainer

import (
	"fmt"
	"runtime"
	"sync"
)

// OnTorchThread runs f on a goroutine locked to its OS thread, as every
// libtorch session must be (its grad mode and gotch's last error are per
// thread), and returns a libtorch panic as an error prefixed by pkg.
func OnTorchThread(pkg string, f func() error) error {
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
