//go:build purego || !amd64

package rsaz

import "testing"

// TestNoFastPath: builds without the assembly never choose it.
func TestNoFastPath(t *testing.T) {
	if Available() || Accelerated(NewSigner(cachedKey(t, 0, 1024, 1024))) {
		t.Fatal("fast path chosen in a build without it")
	}
}
