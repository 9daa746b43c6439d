// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb
// into a temporary folder, postgres on a free loopback port (no Unix
// socket, fsync off), one fresh database per test, and the cluster stopped
// and removed by Stop (call it from TestMain). The binaries are looked up
// at run time in /usr/lib/postgresql/*/bin (Debian's postgresql package)
// and then on PATH. initdb refuses to run as root, so when the tests run as
// root the cluster runs as the system user "postgres" (created by the
// Debian package). Where PostgreSQL is missing, Need skips the test, or
// fails it under CI=true (internal/testenv.Missing).
package pgtest
