// Montgomery multiplication in radix 2^52 with AVX-512 IFMA, written for
// ecogate from the published algorithm: S. Gueron, V. Krasnov, "Software
// implementation of modular exponentiation, using advanced vector
// instructions architectures" (2012), "almost Montgomery multiplication"
// in the word-by-word form of N. Drucker, S. Gueron, "Fast modular
// squaring with AVX512IFMA" (2019). Squarings use the general
// multiplication (no dedicated squaring).

//go:build amd64 && !purego

#include "textflag.h"

// Numbers are 20 digits of 52 bits, each digit in the low bits of a
// uint64, padded to 24 words (three ZMM registers; words 20-23 are zero).
// A "pair" is two such numbers back to back (48 words, 384 bytes): the
// half for p at offset 0 and the half for q at offset 192. Every function
// here works on both halves at once so that the two independent
// dependency chains of the CRT halves fill each other's latency gaps.
//
// Nothing below branches on, or computes a memory address from, the
// numbers: the only branch is the loop counter, and addresses depend only
// on it.

// One iteration of ammx2 (i = 0..19) adds a*b[i] + m*y to the running sum
// T and divides T by 2^52, y being chosen so that the division is exact.
// T = ACC + sum over j >= 1 of R[j]*2^(52j): lane 0 of T lives in a scalar
// register (ACC), which computes y without waiting for vector results,
// and lane 0 of the vector accumulator R is scratch. Lanes are not
// normalized during the loop (each grows by at most four 52-bit terms per
// iteration, below 2^59 after 20); NORMALIZE runs once at the end.

// Register plan for ammx2.
// p half: a in Z0-Z2, m in Z3-Z5, accumulator in Z6-Z8, b[i] in Z9, y in Z10
// q half: a in Z11-Z13, m in Z14-Z16, accumulator in Z17-Z19, b[i] in Z20, y in Z21
// Z22 zero, Z23 the 52-bit mask, Z24-Z31 scratch.
// GPRs: AX m/k0 context, BX a, SI b, DI res, CX loop offset, DX MULX
// source, R8 scalar lane-0 accumulator of p, R9 that of q, R10-R13 scratch.

// SCALAR computes, for one half, the scalar lane-0 part of one iteration:
// ACC += a[0]*b[i] (full 104-bit product), y = ACC*k0 mod 2^52,
// ACC += m[0]*y, ACC = ACC >> 52 (128-bit shift), and broadcasts b[i] and y.
#define SCALAR(off, k0off, ACC, ZB, ZY) \
	MOVQ off(SI)(CX*1), R10; \
	VPBROADCASTQ R10, ZB; \
	MOVQ off(BX), DX; \
	MULXQ R10, R10, R11; \
	ADDQ R10, ACC; \
	ADCQ $0, R11; \
	MOVQ ACC, R12; \
	IMULQ k0off(AX), R12; \
	SHLQ $12, R12; \
	SHRQ $12, R12; \
	VPBROADCASTQ R12, ZY; \
	MOVQ off(AX), DX; \
	MULXQ R12, R10, R13; \
	ADDQ R10, ACC; \
	ADCQ R13, R11; \
	SHRQ $52, ACC; \
	SHLQ $12, R11; \
	ORQ R11, ACC

// MADD52 adds OP (VPMADD52LUQ: the low 52 bits, VPMADD52HUQ: the high 52
// bits) of a[j]*b[i] and m[j]*y to lane j, for the p or the q half. The
// low halves go in before SHIFT; the high halves, which belonged to lane
// j+1, after it, where lane j+1 has become lane j. Lane 0 then receives a
// copy of what the scalar accumulator already holds; the next SHIFT drops
// it.
#define MADD52(OP, A0, A1, A2, M0, M1, M2, R0, R1, R2, ZB, ZY) \
	OP A0, ZB, R0; \
	OP A1, ZB, R1; \
	OP A2, ZB, R2; \
	OP M0, ZY, R0; \
	OP M1, ZY, R1; \
	OP M2, ZY, R2

// SHIFT divides the accumulator by 2^52 by moving every lane down one
// (lane 0, which the scalar accumulator owns, drops out), then adds the
// new lane 0 to the scalar accumulator.
#define SHIFT(R0, R1, R2, X0, ACC) \
	VALIGNQ $1, R0, R1, R0; \
	VALIGNQ $1, R1, R2, R1; \
	VALIGNQ $1, R2, Z22, R2; \
	VMOVQ X0, R10; \
	ADDQ R10, ACC

// LANEMASK sets bit j of DST when lane j of R0|R1|R2 compares to the
// 52-bit mask in Z23 with predicate PRED ($6: greater, $0: equal).
#define LANEMASK(PRED, R0, R1, R2, DST, T1, T2) \
	VPCMPUQ PRED, Z23, R0, K1; \
	VPCMPUQ PRED, Z23, R1, K2; \
	VPCMPUQ PRED, Z23, R2, K3; \
	KMOVW K1, DST; \
	KMOVW K2, T1; \
	KMOVW K3, T2; \
	SHLQ $8, T1; \
	SHLQ $16, T2; \
	ORQ T1, DST; \
	ORQ T2, DST

// NORMALIZE turns lanes of up to 64 bits back into 52-bit digits. First
// each lane keeps its low 52 bits and adds the bits above from the lane
// below; a lane may then exceed 2^52-1 by a little, so one more carry
// ripples. The ripple is resolved without a loop: G marks lanes > 2^52-1
// (they carry one out), E lanes == 2^52-1 (they pass a carry on), and
// ((G<<1)+E)^E marks the lanes that receive a carry. Those lanes get +1
// (as - (2^52-1), then the mask), all in masked vector operations.
#define NORMALIZE(R0, R1, R2) \
	VPSRLQ $52, R0, Z24; \
	VPSRLQ $52, R1, Z25; \
	VPSRLQ $52, R2, Z26; \
	VPANDQ Z23, R0, R0; \
	VPANDQ Z23, R1, R1; \
	VPANDQ Z23, R2, R2; \
	VALIGNQ $7, Z25, Z26, Z26; \
	VALIGNQ $7, Z24, Z25, Z25; \
	VALIGNQ $7, Z22, Z24, Z24; \
	VPADDQ Z24, R0, R0; \
	VPADDQ Z25, R1, R1; \
	VPADDQ Z26, R2, R2; \
	LANEMASK($6, R0, R1, R2, R10, R11, R12); \
	LANEMASK($0, R0, R1, R2, R11, R12, R13); \
	SHLQ $1, R10; \
	ADDQ R11, R10; \
	XORQ R11, R10; \
	KMOVW R10, K1; \
	SHRQ $8, R10; \
	KMOVW R10, K2; \
	SHRQ $8, R10; \
	KMOVW R10, K3; \
	VPSUBQ Z23, R0, K1, R0; \
	VPSUBQ Z23, R1, K2, R1; \
	VPSUBQ Z23, R2, K3, R2; \
	VPANDQ Z23, R0, R0; \
	VPANDQ Z23, R1, R1; \
	VPANDQ Z23, R2, R2

// func ammx2(res, a, b *[48]uint64, m *modPair)
//
// For each half h (p, q): res_h = a_h * b_h * 2^-1040 mod m_h, "almost"
// reduced: with a_h, b_h < 4*m_h and m_h < 2^1024 the result is below
// 2*m_h, in normalized 52-bit digits. res may alias a or b. modPair holds
// the two moduli (48 words) followed by k0 = -m^-1 mod 2^52 for each half.
TEXT ·ammx2(SB), NOSPLIT, $0-32
	MOVQ res+0(FP), DI
	MOVQ a+8(FP), BX
	MOVQ b+16(FP), SI
	MOVQ m+24(FP), AX

	VMOVDQU64 0(BX), Z0
	VMOVDQU64 64(BX), Z1
	VMOVDQU64 128(BX), Z2
	VMOVDQU64 0(AX), Z3
	VMOVDQU64 64(AX), Z4
	VMOVDQU64 128(AX), Z5
	VMOVDQU64 192(BX), Z11
	VMOVDQU64 256(BX), Z12
	VMOVDQU64 320(BX), Z13
	VMOVDQU64 192(AX), Z14
	VMOVDQU64 256(AX), Z15
	VMOVDQU64 320(AX), Z16

	VPXORQ Z6, Z6, Z6
	VPXORQ Z7, Z7, Z7
	VPXORQ Z8, Z8, Z8
	VPXORQ Z17, Z17, Z17
	VPXORQ Z18, Z18, Z18
	VPXORQ Z19, Z19, Z19
	VPXORQ Z22, Z22, Z22
	XORQ R8, R8
	XORQ R9, R9
	XORQ CX, CX

loop:
	SCALAR(0, 384, R8, Z9, Z10)
	SCALAR(192, 392, R9, Z20, Z21)
	MADD52(VPMADD52LUQ, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10)
	MADD52(VPMADD52LUQ, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21)
	SHIFT(Z6, Z7, Z8, X6, R8)
	SHIFT(Z17, Z18, Z19, X17, R9)
	MADD52(VPMADD52HUQ, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10)
	MADD52(VPMADD52HUQ, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21)
	ADDQ $8, CX
	CMPQ CX, $160
	JB   loop

	// Lane 0 is the scalar accumulator's.
	MOVQ $1, R10
	KMOVW R10, K1
	VPBROADCASTQ R8, K1, Z6
	VPBROADCASTQ R9, K1, Z17

	JMP normStore<>(SB)

// func selectx2(out *[48]uint64, table *[tableSize][48]uint64, ip, iq uint64)
//
// out's p half = table[ip]'s p half and out's q half = table[iq]'s q half.
// Every entry is read in full; the indices only decide, through
// comparison masks, which loaded entry a register-to-register masked move
// keeps, so the memory access pattern and timing do not depend on them.
TEXT ·selectx2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ table+8(FP), SI
	VPBROADCASTQ ip+16(FP), Z20
	VPBROADCASTQ iq+24(FP), Z21
	VPXORQ Z22, Z22, Z22 // entry counter, every lane
	MOVQ $1, R10
	VPBROADCASTQ R10, Z23
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	MOVQ $32, CX

sel:
	VPCMPEQQ Z22, Z20, K1
	VPCMPEQQ Z22, Z21, K2
	VMOVDQU64 0(SI), Z24
	VMOVDQU64 64(SI), Z25
	VMOVDQU64 128(SI), Z26
	VMOVDQU64 192(SI), Z27
	VMOVDQU64 256(SI), Z28
	VMOVDQU64 320(SI), Z29
	VMOVDQA64 Z24, K1, Z0
	VMOVDQA64 Z25, K1, Z1
	VMOVDQA64 Z26, K1, Z2
	VMOVDQA64 Z27, K2, Z3
	VMOVDQA64 Z28, K2, Z4
	VMOVDQA64 Z29, K2, Z5
	VPADDQ Z23, Z22, Z22
	ADDQ $384, SI
	DECQ CX
	JNZ  sel

	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VMOVDQU64 Z5, 320(DI)
	VZEROUPPER
	RET

// func normx2(x *[48]uint64)
//
// NORMALIZE on both halves of x in place, for the tests: lanes of up to
// 2^60 become 52-bit digits of the same number (carries out of the last
// lane are dropped).
TEXT ·normx2(SB), NOSPLIT, $0-8
	MOVQ x+0(FP), DI
	VMOVDQU64 0(DI), Z6
	VMOVDQU64 64(DI), Z7
	VMOVDQU64 128(DI), Z8
	VMOVDQU64 192(DI), Z17
	VMOVDQU64 256(DI), Z18
	VMOVDQU64 320(DI), Z19
	VPXORQ Z22, Z22, Z22
	JMP normStore<>(SB)

// normStore is the common tail of ammx2 and normx2: NORMALIZE both
// accumulators (Z6-Z8 for p, Z17-Z19 for q; Z22 must be zero), store
// them to the pair at DI and return from the caller.
TEXT normStore<>(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ $0xfffffffffffff, R10
	VPBROADCASTQ R10, Z23
	NORMALIZE(Z6, Z7, Z8)
	NORMALIZE(Z17, Z18, Z19)
	VMOVDQU64 Z6, 0(DI)
	VMOVDQU64 Z7, 64(DI)
	VMOVDQU64 Z8, 128(DI)
	VMOVDQU64 Z17, 192(DI)
	VMOVDQU64 Z18, 256(DI)
	VMOVDQU64 Z19, 320(DI)
	VZEROUPPER
	RET
