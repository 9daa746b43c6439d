// Package ids makes the node's message ids: UUIDv7 (RFC 9562) from
// github.com/gofrs/uuid/v5, with the time taken from an injectable clock.
// Ids from one Generator increase strictly, also within one millisecond
// and across a clock that steps back (the library's monotonic counter).
package ids
