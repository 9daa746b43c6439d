//go:build !unix

package store

import "errors"

// reserveArena is not available here: checks read the data file.
func reserveArena(int) ([]byte, func([]byte) error, error) {
	return nil, nil, errors.New("the check view index needs a Unix memory map")
}
