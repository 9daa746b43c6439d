// Command ecogate-loadimport measures `ecogate import` end to end on N
// generated legacy records: it lays out a development node in a temporary
// directory, writes N india-ecoo application records as NDJSON (the
// fixture mapping/testdata/india-ecoo/aifta-issued.json with its
// certificate and reference numbers varied), runs the ecogate binary's
// import on them as a child process into a fresh data file, and prints the
// wall time, records per second, the child's CPU time and maximum RSS, the
// data file's size and the system load average. Everything it wrote is
// removed at the end (unless -keep).
//
//	go build -o /tmp/ecogate ./cmd/ecogate
//	go run ./cmd/ecogate-loadimport -ecogate /tmp/ecogate -n 1000000
//
// With -postgres DSN the node's configuration gets store.engine: postgres
// on that database (empty, no password in the DSN; the schema is migrated
// by the import): the import then writes through COPY batches, and the
// tool reports the database's size instead of the data file's.
//
//	go run ./cmd/ecogate-loadimport -ecogate /tmp/ecogate -n 100000 -postgres 'postgres://ecogate@127.0.0.1:5432/imp?sslmode=disable'
//
// Run it from the repository root (it reads the fixture). It needs about
// 3 KB of disk per record for the source and 4.5 KB for the data file.
// It ends with the pages each bucket of the data file occupies.
package main
