// Command ecogate-loadverify measures the public verification face with a
// large register of issued certificates: it fills a bbolt register with N
// certificates (bulk writes, store.Issued.SeedIssued; the file is kept and
// reused by later runs with the same N), serves the portal's /verify pages
// (package portal, rendered in its layout, over gateway/verify) on
// loopback, and sends a fixed number of requests of each kind, reporting
// p50, p90, p99, p99.9 and the maximum:
//
//   - page:   GET /verify?country=IN&number=N (HTML, lookup by number)
//   - token:  GET /verify/q/{token} (HTML, the QR link)
//   - signed: GET /verify/s/{jws} (the signed QR payload: ES256 signature,
//     chain to the anchors, then the register lookup)
//
// The numbers are drawn at random over the whole register. The load
// generator runs in the same process as the server (loopback HTTP,
// keep-alive connections), so its CPU counts against the server's.
//
//	go run ./cmd/ecogate-loadverify -n 1000000 -requests 5000 -c 4
package main
