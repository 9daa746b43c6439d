// Package strictjson is the one JSON decoder of every door of the node
// (the partner API, the customs API, the local API): a body is accepted
// only when it is exactly one JSON value, valid UTF-8, with no member
// name twice in an object, no member the Go type does not know, and
// every value of the type its field expects. Names match exactly (case
// sensitive), so "From" is not "from".
//
// encoding/json (and goccy/go-json) accept duplicate names (the last one
// wins), replace invalid UTF-8 with U+FFFD and, with Decoder, leave
// trailing data unread: a body that two readers could understand
// differently. This package decodes with github.com/go-json-experiment/json
// (the encoding/json/v2 proposal), whose defaults refuse all of that in one
// pass, and turns its errors into an *Error that names the field and says
// what to fix.
package strictjson
