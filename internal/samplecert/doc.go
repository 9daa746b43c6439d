// Package samplecert holds the sample AIFTA certificate of origin (India to
// Viet Nam) that the demo, the tests and the benchmarks submit: one valid,
// unsigned e-CO whose number, version and countries a caller sets. It is
// not part of the node: production packages do not import it.
package samplecert
