//go:build linux

package store

import "syscall"

// reserveArena maps size bytes of anonymous memory outside the Go heap
// (no swap reserved: pages are only used as they are written).
func reserveArena(size int) ([]byte, func([]byte) error, error) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, nil, err
	}
	return b, syscall.Munmap, nil
}
