package torch

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>

// set_blas_threads calls OpenBLAS's openblas_set_num_threads when the
// process has OpenBLAS loaded (Debian's libtorch reaches it through
// libblas.so.3); it returns 0 when there is none.
static int set_blas_threads(int n) {
	void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (!set) return 0;
	set(n);
	return 1;
}

static int get_blas_threads(void) {
	int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
	return get ? get() : 0;
}
*/
import "C"

// setBLASThreads fixes OpenBLAS's own thread pool (pthreads, sized by
// default to the machine's cores and not governed by libtorch's thread
// count). A matrix product split over a different number of threads sums
// in a different order, so without this the same seed gave other numbers
// on a machine with more cores. It reports whether OpenBLAS was found.
func setBLASThreads(n int) bool { return C.set_blas_threads(C.int(n)) == 1 }

// BLASThreads is OpenBLAS's thread count (0: OpenBLAS is not loaded).
func BLASThreads() int { return int(C.get_blas_threads()) }
