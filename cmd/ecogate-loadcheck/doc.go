// Command ecogate-loadcheck drives the customs check endpoint
// (POST /customs/v1/checks) of a node-equivalent server on loopback and
// prints throughput, latency percentiles and the server's memory.
//
// The server runs as a child process (the same binary with -serve), so its
// memory is measured apart from the load generator's. It serves
// gateway/customs' real handler (bearer-token check, JSON, one pooled bbolt
// read transaction per check) over a store seeded with N check views written
// directly into bbolt (no documents are signed). With -inbound each view
// arrives instead as a receiving node stores it: in an accepted inbound
// message with its issued status (Inbox.Accept), so the inbox index and the
// status records hold an entry per certificate, as on a real node. The
// seeded file is kept and reused by later runs with the same N and mode.
//
//	go run ./cmd/ecogate-loadcheck -n 10000 -c 64 -d 10s
//	go run ./cmd/ecogate-loadcheck -n 1000000 -c 64 -d 10s
//
// With -tls the server speaks TLS 1.3 (HTTP/1.1 keep-alive, a fresh
// self-signed ECDSA P-256 certificate the driver trusts). With -trivial
// the server is the reference instead: the same listener, TLS and
// net/http server answering every check with the bytes the real handler
// answers for a sample check (same status, headers and length), after
// reading the request body. -compare K runs the real server and the
// trivial one alternately, K times each, under the same client, and prints
// the throughput ratio and the server CPU per request of each:
//
//	go run ./cmd/ecogate-loadcheck -n 1000000 -tls -compare 3 -c 16 -d 8s
//	go run ./cmd/ecogate-loadcheck -n 1000000 -inbound -tls -compare 3 -c 16 -d 8s
package main
