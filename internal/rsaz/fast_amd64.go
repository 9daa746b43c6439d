//go:build amd64 && !purego

package rsaz

import (
	"crypto/rsa"
	"math/big"
	"math/bits"
)

const (
	digitBits = 52
	digitMask = 1<<digitBits - 1
	nDigits   = 20 // 20*52 = 1040 bits: R = 2^1040 > 4p for 1024-bit p
	halfWords = 24 // nDigits padded to three 8-word vectors
	limbs     = 16 // 64-bit limbs of a 1024-bit number
	window    = 5
	tableSize = 1 << window
	expBits   = 1025 // d_p, d_q < 2^1024, rounded up to whole windows
)

// pair holds two numbers of nDigits 52-bit digits, least significant
// first, each padded to halfWords: the half for p at [0:24], the half for
// q at [24:48].
type pair [2 * halfWords]uint64

// keyCtx is what one key precomputes for privateOp. It is read only.
type keyCtx struct {
	mod    modPair
	rr     pair // R^2 mod p | R^2 mod q, R = 2^1040
	rrr    pair // R^3 mod p | R^3 mod q
	one    pair // R mod p | R mod q: 1 in the Montgomery domain
	plain1 pair // the integer 1 in both halves
	qinvR  pair // qInv*R mod p | 0
	dp, dq [limbs + 1]uint64
	p, q   [limbs]uint64
}

// newKeyCtx precomputes the constants for a two-prime key with two
// 1024-bit primes and Precomputed set. The big.Int arithmetic here runs
// once per key, not per signature.
func newKeyCtx(k *rsa.PrivateKey) *keyCtx {
	p, q := k.Primes[0], k.Primes[1]
	if p.Bit(0) == 0 || q.Bit(0) == 0 {
		return nil
	}
	c := &keyCtx{}
	R := new(big.Int).Lsh(big.NewInt(1), nDigits*digitBits)
	for h, m := range []*big.Int{p, q} {
		off := h * halfWords
		setDigits(c.mod.m[off:off+nDigits], m)
		c.mod.k0[h] = negInv52(m.Bits()[0])
		r := new(big.Int).Mod(R, m)
		setDigits(c.one[off:off+nDigits], r)
		r.Mul(r, R).Mod(r, m)
		setDigits(c.rr[off:off+nDigits], r)
		r.Mul(r, R).Mod(r, m)
		setDigits(c.rrr[off:off+nDigits], r)
		c.plain1[off] = 1
	}
	qinvR := new(big.Int).Mul(k.Precomputed.Qinv, R)
	setDigits(c.qinvR[:nDigits], qinvR.Mod(qinvR, p))
	setLimbs(c.dp[:], k.Precomputed.Dp)
	setLimbs(c.dq[:], k.Precomputed.Dq)
	setLimbs(c.p[:], p)
	setLimbs(c.q[:], q)
	return c
}

// negInv52 returns -x^-1 mod 2^52 for odd x (Newton's iteration: each
// step doubles the number of correct low bits, 3 → 96).
func negInv52(x big.Word) uint64 {
	a := uint64(x)
	inv := a
	for range 5 {
		inv *= 2 - a*inv
	}
	return -inv & digitMask
}

// setLimbs writes x (< 2^(64*len(dst))) as little-endian 64-bit limbs.
func setLimbs(dst []uint64, x *big.Int) {
	clear(dst)
	for i, w := range x.Bits() {
		dst[i] = uint64(w)
	}
}

// setDigits writes x as 52-bit digits.
func setDigits(dst []uint64, x *big.Int) {
	l := make([]uint64, (len(dst)*digitBits+63)/64+1)
	setLimbs(l, x)
	limbsToDigits(dst, l)
}

// limbsToDigits splits 64-bit limbs into 52-bit digits. Positions depend
// only on the lengths.
func limbsToDigits(dst, src []uint64) {
	for i := range dst {
		bit := i * digitBits
		w, s := bit/64, uint(bit%64)
		v := src[w] >> s
		if s > 64-digitBits && w+1 < len(src) {
			v |= src[w+1] << (64 - s)
		}
		dst[i] = v & digitMask
	}
}

// digitsToLimbs joins normalized 52-bit digits into 64-bit limbs; bits
// beyond len(dst)*64 are dropped.
func digitsToLimbs(dst, src []uint64) {
	clear(dst)
	for i, d := range src {
		bit := i * digitBits
		w, s := bit/64, uint(bit%64)
		if w < len(dst) {
			dst[w] |= d << s
		}
		if s > 64-digitBits && w+1 < len(dst) {
			dst[w+1] |= d >> (64 - s)
		}
	}
}

// addDigits sets z = x + y for one half of normalized digits, carrying so
// that z is normalized again.
func addDigits(z, x, y []uint64) {
	var carry uint64
	for i := range nDigits {
		s := x[i] + y[i] + carry
		z[i] = s & digitMask
		carry = s >> digitBits
	}
}

// condSub sets x = x - m if x >= m, in constant time. x may have one
// limb more than m.
func condSub(x []uint64, m *[limbs]uint64) {
	var t [limbs + 1]uint64
	var borrow uint64
	for i := range x {
		var mi uint64
		if i < limbs {
			mi = m[i]
		}
		t[i], borrow = bits.Sub64(x[i], mi, borrow)
	}
	keep := -borrow // all ones: x < m, keep x
	for i := range x {
		x[i] = x[i]&keep | t[i]&^keep
	}
}

// subMod sets z = x - y mod m for x, y < m, in constant time.
func subMod(z, x, y, m *[limbs]uint64) {
	var borrow, carry uint64
	for i := range limbs {
		z[i], borrow = bits.Sub64(x[i], y[i], borrow)
	}
	mask := -borrow
	for i := range limbs {
		z[i], carry = bits.Add64(z[i], m[i]&mask, carry)
	}
}

// window5 returns the 5 exponent bits at pos (a public position).
func window5(d *[limbs + 1]uint64, pos int) uint64 {
	w, s := pos/64, uint(pos%64)
	v := d[w] >> s
	if s > 64-window {
		v |= d[w+1] << (64 - s)
	}
	return v & (tableSize - 1)
}

// privateOp sets sig to em^d mod n, 256 bytes big-endian, with the CRT.
func (c *keyCtx) privateOp(sig []byte, em *[256]byte) {
	// em as 2080 bits of 52-bit digits: x = x0 + x1*R with x0, x1 < R.
	var l [33]uint64
	for i := range 32 {
		for j := range 8 {
			l[i] |= uint64(em[255-8*i-j]) << (8 * j)
		}
	}
	var xd [2 * nDigits]uint64
	limbsToDigits(xd[:], l[:])
	var x0, x1 pair
	for h := range 2 {
		copy(x0[h*halfWords:], xd[:nDigits])
		copy(x1[h*halfWords:], xd[nDigits:])
	}
	// base = x*R mod m = AMM(x0, R^2) + AMM(x1, R^3), below 4m.
	var table [tableSize]pair
	ammx2(&x0, &x0, &c.rr, &c.mod)
	ammx2(&x1, &x1, &c.rrr, &c.mod)
	for h := range 2 {
		o := h * halfWords
		addDigits(table[1][o:], x0[o:], x1[o:])
	}
	table[0] = c.one
	for i := 2; i < tableSize; i++ {
		ammx2(&table[i], &table[i-1], &table[1], &c.mod)
	}

	// Fixed-window exponentiation of both halves, most significant first.
	var acc, t pair
	pos := expBits - window
	selectx2(&acc, &table, window5(&c.dp, pos), window5(&c.dq, pos))
	for pos -= window; pos >= 0; pos -= window {
		for range window {
			ammx2(&acc, &acc, &acc, &c.mod)
		}
		selectx2(&t, &table, window5(&c.dp, pos), window5(&c.dq, pos))
		ammx2(&acc, &acc, &t, &c.mod)
	}
	ammx2(&acc, &acc, &c.plain1, &c.mod) // leave the Montgomery domain: <= m
	var mp, mq [limbs]uint64
	digitsToLimbs(mp[:], acc[:nDigits])
	digitsToLimbs(mq[:], acc[halfWords:halfWords+nDigits])
	condSub(mp[:], &c.p)
	condSub(mq[:], &c.q)

	// Garner: h = (mp - mq)*qInv mod p, s = mq + h*q.
	var mqp, hl [limbs]uint64
	var hw [limbs + 1]uint64
	mqp = mq
	condSub(mqp[:], &c.p) // mq < q < 2p
	subMod(&hl, &mp, &mqp, &c.p)
	var hd pair
	limbsToDigits(hd[:nDigits], hl[:])
	ammx2(&hd, &hd, &c.qinvR, &c.mod)  // q half: 0*0
	digitsToLimbs(hw[:], hd[:nDigits]) // below 2p: may need 1025 bits
	condSub(hw[:], &c.p)
	copy(hl[:], hw[:limbs])

	var s [2 * limbs]uint64
	for i := range limbs {
		var carry uint64
		for j := range limbs {
			hi, lo := bits.Mul64(hl[i], c.q[j])
			var cc uint64
			lo, cc = bits.Add64(lo, s[i+j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, carry, 0)
			hi += cc
			s[i+j] = lo
			carry = hi
		}
		s[i+limbs] = carry
	}
	var carry uint64
	for i := range 2 * limbs {
		var y uint64
		if i < limbs {
			y = mq[i]
		}
		s[i], carry = bits.Add64(s[i], y, carry)
	}
	for i := range 2 * limbs {
		for j := range 8 {
			sig[255-8*i-j] = byte(s[i] >> (8 * j))
		}
	}

	clear(table[:])
	clear(acc[:])
	clear(t[:])
	clear(mp[:])
	clear(mq[:])
	clear(mqp[:])
	clear(hl[:])
	clear(hd[:])
	clear(hw[:])
	clear(s[:])
}
