package customs

import (
	"sync"

	"github.com/ecogate/ecogate/store"
)

// Room for the common check in a checkMem: declared lines, goods items of
// the view, importer identifiers. Larger requests and views allocate.
const (
	memLines = 4
	memItems = 8
	memIDs   = 2
)

// checkMem is the working memory of one check: the request and its lines,
// the stored view read for it, the answer and its parts, in one value so
// that a check allocates it once, or not at all when handleCheck takes it
// from checkPool. Everything the answer refers to lives here or in the
// request body's string: the value goes back to the pool only after the
// answer is written.
type checkMem struct {
	req   CheckRequest
	party PartyRef
	items [memLines]DeclaredItem
	qtys  [memLines]Quantity
	decl  [memLines]declared

	snap   store.Snapshot
	view   View
	frag   fragments
	found  found
	vitems [memItems]ViewItem
	ids    [memIDs]string

	res     CheckResult
	cert    CertSummary
	ver     VerificationInfo
	results [memLines]ItemResult
	rq      [3 * memLines]Quantity // certified, remaining, declared of each line
}

// maxPooledView bounds the view buffer a pooled checkMem keeps.
const maxPooledView = 64 << 10

var checkPool = sync.Pool{New: func() any { return new(checkMem) }}

// release clears m, keeping its snapshot buffers, and puts it back in
// checkPool.
func (m *checkMem) release() {
	snap := m.snap
	*m = checkMem{}
	if cap(snap.View) <= maxPooledView {
		snap.Reset()
		m.snap = snap
	}
	checkPool.Put(m)
}
