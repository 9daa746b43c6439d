//go:build unix

package store

import (
	"os"
	"syscall"
)

// tryShareLock takes a shared, non-blocking flock on f (released when f is
// closed) and reports whether it got it: false while another process (or
// another open DB of this one) holds the file.
func tryShareLock(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil
}
