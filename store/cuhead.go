package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A check view's value in the cu_view bucket carries, ahead of the view,
// the check head: what a customs check would otherwise read from two other
// buckets, each a walk down its own B+tree (on a node with a million
// certificates, two more cache and TLB misses per level): the sequence of
// the last inbound message about the certificate (the inbox index in_cert)
// and the status record of each of its versions (cert_state). With it a
// check reads the view, its staleness and its status in one seek.
//
// The head is derived data. Every write of in_cert or cert_state refreshes
// the head of the certificate's view in the same transaction
// (refreshHead), and every view written gets a fresh head (viewValue). A
// value written before heads existed (or copied from PostgreSQL by an older
// binary) has none: Snapshot then reads in_cert and cert_state as before,
// so such a value is never wrong, only slower. DB.Check recomputes every
// head and reports one that differs.
//
// Layouts:
//
//	legacy: be64(basedOn) view
//	headed: be64(headMarker) uvarint(basedOn) uvarint(latest)
//	        uvarint(n) n × (uvarint(version) str(status) str(replacedBy))
//	        uvarint(m) m × (uvarint(item) uvarint(used)) view
//
// where str is uvarint(len) bytes. headMarker is no inbox sequence and not
// ViewFromQuery.
const headMarker = ^uint64(0) - 1

// viewHead is the check head of a view.
type viewHead struct {
	basedOn, latest uint64
	statuses        []headStatus
	used            []Used // utilised quantity per goods item (cu_util)
}

// headStatus is the part of a version's CertStatus a check reads.
type headStatus struct {
	version    int
	status     CertState
	replacedBy string
}

// staleView reports whether a view built from the inbox message basedOn
// is stale when latest is the last message about the certificate (0:
// none): a message arrived after it was built. A view from a query answer
// is stale as soon as any message arrives.
func staleView(basedOn, latest uint64) bool {
	return basedOn != latest && !(basedOn == ViewFromQuery && latest == 0)
}

// status is the status record of version (ok false when there is none).
func (h *viewHead) status(version int) (headStatus, bool) {
	for _, s := range h.statuses {
		if s.version == version {
			return s, true
		}
	}
	return headStatus{}, false
}

// appendViewValue appends the headed value of view.
func appendViewValue(b []byte, h *viewHead, view []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, headMarker)
	b = binary.AppendUvarint(b, h.basedOn)
	b = binary.AppendUvarint(b, h.latest)
	b = binary.AppendUvarint(b, uint64(len(h.statuses)))
	for _, s := range h.statuses {
		b = binary.AppendUvarint(b, uint64(s.version))
		b = binary.AppendUvarint(b, uint64(len(s.status)))
		b = append(b, s.status...)
		b = binary.AppendUvarint(b, uint64(len(s.replacedBy)))
		b = append(b, s.replacedBy...)
	}
	b = binary.AppendUvarint(b, uint64(len(h.used)))
	for _, u := range h.used {
		b = binary.AppendUvarint(b, uint64(u.Seq))
		b = binary.AppendUvarint(b, uint64(u.Used))
	}
	return append(b, view...)
}

var errBadHead = errors.New("check view value has a damaged head")

// parseViewValue splits a cu_view value. headed is false for a legacy
// value (h then has only basedOn). The statuses go to h.statuses' array;
// their strings are copies, the view aliases v.
func parseViewValue(v []byte, h *viewHead) (view []byte, headed bool, err error) {
	h.statuses, h.used = h.statuses[:0], h.used[:0]
	if len(v) < 8 {
		return nil, false, errBadHead
	}
	h.basedOn, h.latest = binary.BigEndian.Uint64(v), 0
	if h.basedOn != headMarker {
		return v[8:], false, nil
	}
	r := v[8:]
	uv := func() uint64 {
		x, n := binary.Uvarint(r)
		if n <= 0 {
			err = errBadHead
			r = nil
			return 0
		}
		r = r[n:]
		return x
	}
	raw := func() []byte {
		n := uv()
		if n > uint64(len(r)) {
			err = errBadHead
			r = nil
			return nil
		}
		s := r[:n]
		r = r[n:]
		return s
	}
	str := func() string { return string(raw()) }
	h.basedOn, h.latest = uv(), uv()
	n := uv()
	if n > uint64(len(r)) {
		return nil, false, errBadHead
	}
	for range n {
		ver := uv()
		st := headStatus{version: int(ver), status: certState(raw()), replacedBy: str()}
		h.statuses = append(h.statuses, st)
	}
	m := uv()
	if m > uint64(len(r)) {
		return nil, false, errBadHead
	}
	for range m {
		seq := uv()
		h.used = append(h.used, Used{Seq: int(seq), Used: int64(uv())})
	}
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// certState is b as a CertState, without allocating for the known ones.
func certState(b []byte) CertState {
	for _, s := range [...]CertState{CertIssued, CertWithdrawn, CertReplaced} {
		if string(b) == string(s) {
			return s
		}
	}
	return CertState(b)
}

// headOf computes the head of (country, number)'s view from in_cert and
// cert_state, as they are in tx.
func headOf(tx *bolt.Tx, country, number string, basedOn uint64) (viewHead, error) {
	h := viewHead{basedOn: basedOn, latest: latestInSeq(tx, country, number)}
	var err error
	scanPrefix(tx.Bucket([]byte(bktCertState)), prefix([]byte(country), []byte(number)), func(_, v []byte) bool {
		var s struct {
			Version    int       `json:"version"`
			Status     CertState `json:"status"`
			ReplacedBy string    `json:"replacedBy"`
		}
		if err = json.Unmarshal(v, &s); err != nil {
			err = fmt.Errorf("decode status of %s/%s: %w", country, number, err)
			return false
		}
		h.statuses = append(h.statuses, headStatus{version: s.Version, status: s.Status, replacedBy: s.ReplacedBy})
		return true
	})
	if err != nil {
		return h, err
	}
	if ub := tx.Bucket([]byte(bktCuUtil)); ub != nil {
		p := prefix([]byte(country), []byte(number))
		scanPrefix(ub, p, func(k, v []byte) bool {
			if len(k) == len(p)+4 && len(v) == 8 { // as Snapshot reads them
				h.used = append(h.used, Used{Seq: int(binary.BigEndian.Uint32(k[len(p):])), Used: int64(binary.BigEndian.Uint64(v))})
			}
			return true
		})
	}
	return h, nil
}

// viewValue is the value stored for a view built from the inbox message of
// sequence basedOn, with its head computed in tx.
func viewValue(tx *bolt.Tx, country, number string, basedOn uint64, view []byte) ([]byte, error) {
	h, err := headOf(tx, country, number, basedOn)
	if err != nil {
		return nil, err
	}
	return appendViewValue(make([]byte, 0, 32+len(view)), &h, view), nil
}

// refreshHead recomputes the head of (country, number)'s view after a
// write to in_cert, cert_state or cu_util in tx. A legacy value and a missing view
// are left alone.
// An unreadable value is left alone too.
func refreshHead(tx *bolt.Tx, country, number string) error {
	b := tx.Bucket([]byte(bktCuView))
	if b == nil {
		return nil
	}
	k := key([]byte(country), []byte(number))
	v := b.Get(k)
	if v == nil {
		return nil
	}
	var old viewHead
	view, headed, err := parseViewValue(v, &old)
	if err != nil || !headed {
		// An unreadable value is read as no view and rebuilt from the
		// inbox by the next check (DB.Check names it): it must not
		// stop the inbox, statuses or decisions from being written.
		return nil
	}
	h, err := headOf(tx, country, number, old.basedOn)
	if err != nil {
		return err
	}
	nv := appendViewValue(make([]byte, 0, 32+len(view)), &h, view)
	if bytes.Equal(nv, v) {
		return nil
	}
	return putView(tx, b, k, nv)
}

// checkViewHeads recomputes the head of every headed view and reports the
// first that differs from what in_cert and cert_state hold.
func checkViewHeads(tx *bolt.Tx) error {
	b := tx.Bucket([]byte(bktCuView))
	if b == nil {
		return nil
	}
	var h viewHead
	return b.ForEach(func(k, v []byte) error {
		p := split2(k)
		if len(p) != 2 {
			return fmt.Errorf("check view under key %q is malformed", k)
		}
		view, headed, err := parseViewValue(v, &h)
		if err != nil {
			return fmt.Errorf("check view of %s/%s: %w", p[0], p[1], err)
		}
		if !headed {
			return nil
		}
		want, err := headOf(tx, p[0], p[1], h.basedOn)
		if err != nil {
			return err
		}
		if !bytes.Equal(appendViewValue(nil, &want, view), v) {
			return fmt.Errorf("check view of %s/%s: its head (latest message %d, %d status records, %d utilised items) is not what the inbox and the decisions hold (latest %d, %d status records, %d utilised items)",
				p[0], p[1], h.latest, len(h.statuses), len(h.used), want.latest, len(want.statuses), len(want.used))
		}
		return nil
	})
}

// headBatch is the number of views upgradeViewHeads converts per
// transaction.
const headBatch = 2000

// viewHeadsKey in the meta bucket marks a file whose views all have a
// check head (every view written since has one).
const viewHeadsKey = "viewHeads"

// upgradeViewHeads gives a check head to every view stored before heads
// existed, so that an upgraded node's checks take one seek too. It runs
// in the background from Open: read transactions find the views without a
// head, and the writer converts them headBatch at a time (each head
// computed from the inbox as it is in that transaction); then the meta
// bucket records that the file is done, so later starts skip the scan. It
// ends at Close (its updates then get ErrClosed); a view not reached yet
// is read the old way meanwhile.
func (db *DB) upgradeViewHeads() {
	var done bool
	_ = db.view(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte(bktMeta))
		done = m == nil || string(m.Get([]byte(viewHeadsKey))) == "1"
		return nil
	})
	if done {
		return
	}
	var after []byte
	upgraded := 0
	for {
		var keys [][]byte
		end := true
		err := db.view(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bktCuView))
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.Seek(after)
			if after != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil; k, v = c.Next() {
				if len(v) >= 8 && binary.BigEndian.Uint64(v) != headMarker {
					keys = append(keys, append([]byte(nil), k...))
					if len(keys) == headBatch {
						end = false
						break
					}
				}
			}
			return nil
		})
		if err == nil && len(keys) > 0 {
			err = db.update(context.Background(), func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(bktCuView))
				var h viewHead
				for _, k := range keys {
					v := b.Get(k)
					p := split2(k)
					if v == nil || len(p) != 2 {
						continue
					}
					view, headed, err := parseViewValue(v, &h)
					if err != nil || headed {
						continue // DB.Check reports a damaged one
					}
					nv, err := viewValue(tx, p[0], p[1], h.basedOn, view)
					if err != nil {
						return err
					}
					if err := putView(tx, b, k, nv); err != nil {
						return err
					}
				}
				return nil
			})
			upgraded += len(keys)
		}
		if err == nil && end {
			err = db.update(context.Background(), func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(bktMeta)).Put([]byte(viewHeadsKey), []byte("1"))
			})
		}
		if err != nil {
			closing := false
			select {
			case <-db.closing: // Close ran first: bbolt may say so its own way
				closing = true
			default:
			}
			if !closing && !errors.Is(err, ErrClosed) {
				db.log.Error("store: adding check heads to the views stored before them stopped; checks read those views the slower way", "path", db.path, "err", err)
			}
			return
		}
		if end {
			if upgraded > 0 {
				db.log.Info("store: added check heads to the views stored before them", "path", db.path, "views", upgraded)
			}
			return
		}
		after = keys[len(keys)-1]
	}
}
