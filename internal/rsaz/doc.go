// Package rsaz owns a fast, constant-time RSA-2048 private-key operation
// for PKCS#1 v1.5 signatures on x86-64 CPUs with AVX-512 IFMA.
//
// NewSigner wraps an *rsa.PrivateKey. When the key is a two-prime
// 2048-bit key (two 1024-bit primes), the build is amd64 without the
// purego tag and the CPU has AVX-512F, AVX-512 IFMA and BMI2, PKCS#1 v1.5
// signatures with SHA-256, SHA-384 or SHA-512 are computed here: Chinese
// remainder theorem, both halves exponentiated together by an assembly
// Montgomery multiplication in radix 2^52 (VPMADD52LUQ/VPMADD52HUQ,
// "almost Montgomery multiplication" after Gueron and Krasnov) with a
// fixed 5-bit window and a table lookup that reads every entry. Every
// other key, hash, PSS, CPU or build, and FIPS 140-3 mode, goes to
// crypto/rsa unchanged.
//
// Each signature is verified with the public key before it is returned;
// if it does not verify (a fault or a bug), the signature of crypto/rsa is
// returned instead and Fallbacks counts it, so the package can never emit
// a wrong signature. PKCS#1 v1.5 is deterministic: the output equals
// rsa.SignPKCS1v15 byte for byte, which is what the tests check.
package rsaz
