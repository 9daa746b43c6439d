//go:build !amd64 || purego

package rsaz

// haveFast is false: the assembly exists only for amd64 without purego.
const haveFast = false

type keyCtx struct{}

func newKeyCtx(any) *keyCtx { return nil }

func (*keyCtx) privateOp(sig []byte, em *[256]byte) { panic("rsaz: no fast path in this build") }
