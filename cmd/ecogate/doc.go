// Command ecogate is the e-CO interconnectivity node: one static binary whose
// subcommands validate, sign, verify, map, send and receive electronic
// certificates of origin. This package only wires the other packages together.
package main
