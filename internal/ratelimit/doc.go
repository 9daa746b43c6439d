// Package ratelimit is the per-client rate limit of the node's public
// doors (the verification page, the portal's login and registration): a
// token bucket per key (golang.org/x/time/rate) in a bounded LRU table
// (hashicorp/golang-lru), so that a flood of new keys costs neither a scan
// under a lock nor memory past the cap. Time is passed in, so tests need
// no sleeping.
package ratelimit
