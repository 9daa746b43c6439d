// Package testenv locates the outside test material that tests read from
// ../shared (vectors, code lists) and the outside programs used as oracles
// (xmllint, xmlsec1, openssl, python3 with jsonschema, Debian iso-codes).
// Tests call these helpers: on a developer machine they skip with a clear
// reason when the material or the program is absent; under CI (CI set) a
// missing one fails the test, so a missing folder or tool can never turn CI
// green by skipping. .ci/run installs the programs.
package testenv
