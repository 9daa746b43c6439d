//go:build amd64 && !purego

package rsaz

import "golang.org/x/sys/cpu"

// haveFast reports whether the CPU runs the assembly: AVX-512F for the
// vector and mask operations, AVX-512 IFMA for VPMADD52LUQ/HUQ and BMI2
// for MULX (x/sys/cpu also checks that the OS saves the AVX-512 state).
var haveFast = cpu.X86.HasAVX512F && cpu.X86.HasAVX512IFMA && cpu.X86.HasBMI2

// modPair holds the two moduli, p then q, in 52-bit digits (see pair), and
// k0 = -m^-1 mod 2^52 for each. ammx2 reads k0 at byte offset 384.
type modPair struct {
	m  pair
	k0 [2]uint64
}

// ammx2 sets res = a*b*2^-1040 mod m for both halves, almost reduced
// (below 2m when a, b < 4m); res may alias a or b.
//
//go:noescape
func ammx2(res, a, b *pair, m *modPair)

// selectx2 copies the p half of table[ip] and the q half of table[iq] to
// out, reading every entry.
//
//go:noescape
func selectx2(out *pair, table *[tableSize]pair, ip, iq uint64)

// normx2 normalizes both halves of x in place (tests only).
//
//go:noescape
func normx2(x *pair)
