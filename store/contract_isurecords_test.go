package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/issuance"
)

// The issuance records behave the same on both engines: lookups of what
// is not there, refused identifiers, indexes that follow a record that
// moves, writes in a read-only transaction, and records whose bytes are
// missing.

// isuKVOf is the key-value storage under an engine's issuance transaction.
func isuKVOf(t *testing.T, tx issuance.Tx) isuKV {
	t.Helper()
	switch tx := tx.(type) {
	case *IssuanceTx:
		return tx.kv
	case *PGIssuanceTx:
		return tx.kv
	}
	t.Fatalf("unknown issuance transaction %T", tx)
	return nil
}

func TestContractIssuanceRecordsNotFound(t *testing.T) {
	get := []struct {
		name string
		fn   func(tx issuance.Tx) error
	}{
		{"person", func(tx issuance.Tx) error { _, err := tx.Person("x"); return err }},
		{"exporter", func(tx issuance.Tx) error { _, err := tx.Exporter("x"); return err }},
		{"agency", func(tx issuance.Tx) error { _, err := tx.Agency("x"); return err }},
		{"office", func(tx issuance.Tx) error { _, err := tx.Office("x"); return err }},
		{"application", func(tx issuance.Tx) error { _, err := tx.Application("x"); return err }},
		{"by certificate", func(tx issuance.Tx) error { _, err := tx.ApplicationByCertificate("x"); return err }},
		{"dsc", func(tx issuance.Tx) error { _, err := tx.DSC("x"); return err }},
		{"pending", func(tx issuance.Tx) error { _, err := tx.PendingSignature("x"); return err }},
		{"declaration", func(tx issuance.Tx) error { _, err := tx.Declaration("x"); return err }},
		{"attachment", func(tx issuance.Tx) error { _, _, err := tx.(issuance.ExtTx).Attachment("x", "y"); return err }},
		{"payment", func(tx issuance.Tx) error { _, err := tx.(issuance.ExtTx).Payment("x"); return err }},
		{"credential", func(tx issuance.Tx) error { _, err := tx.(issuance.ExtTx).Credential("x"); return err }},
		{"api client", func(tx issuance.Tx) error { _, err := tx.(issuance.ExtTx).APIClient("x"); return err }},
		{"image", func(tx issuance.Tx) error {
			_, _, err := tx.(issuance.ImageTx).Image(issuance.ImageStamp, "x")
			return err
		}},
	}
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		// Once on a store without buckets, once with every bucket there.
		for _, round := range []string{"empty store", "other records"} {
			err := e.issuance.View(ctx, func(tx issuance.Tx) error {
				for _, c := range get {
					if err := c.fn(tx); !errors.Is(err, issuance.ErrNotFound) || !errors.Is(err, ErrNotFound) {
						t.Errorf("%s: %s: %v, want both not-found errors", round, c.name, err)
					}
				}
				return nil
			})
			mustNil(t, "view", err)
			mustNil(t, "workload", e.issuance.Update(ctx, isuLayoutWorkload))
		}
	})
}

func TestContractIssuanceRecordsInvalid(t *testing.T) {
	put := []struct {
		name string
		fn   func(tx issuance.Tx) error
	}{
		{"person without id", func(tx issuance.Tx) error { return tx.PutPerson(&issuance.Person{Org: "O"}) }},
		{"person without org", func(tx issuance.Tx) error { return tx.PutPerson(&issuance.Person{ID: "p"}) }},
		{"exporter NUL", func(tx issuance.Tx) error { return tx.PutExporter(&issuance.Exporter{IEC: "a\x00b"}) }},
		{"office without agency", func(tx issuance.Tx) error { return tx.PutOffice(&issuance.Office{ID: "o"}) }},
		{"application without IEC", func(tx issuance.Tx) error { return tx.PutApplication(&issuance.Application{ID: "A"}) }},
		{"application bad certificate", func(tx issuance.Tx) error {
			return tx.PutApplication(&issuance.Application{ID: "A", IEC: "I", Certificate: "a\x00"})
		}},
		{"movement without office", func(tx issuance.Tx) error {
			return tx.AddMovement(&issuance.Movement{IEC: "I", Amount: 1, Reason: "r"})
		}},
		{"movement without reason", func(tx issuance.Tx) error {
			return tx.AddMovement(&issuance.Movement{IEC: "I", Office: "o", Amount: 1})
		}},
		{"series too long", func(tx issuance.Tx) error { _, err := tx.NextSeq(string(make([]byte, maxIDLen+1))); return err }},
		{"attachment without application", func(tx issuance.Tx) error {
			return tx.(issuance.ExtTx).PutAttachment(&issuance.Attachment{SHA256: "ab"}, []byte("x"))
		}},
		{"api client without IEC", func(tx issuance.Tx) error {
			return tx.(issuance.ExtTx).PutAPIClient(&issuance.APIClient{ID: "k"})
		}},
		{"image without owner", func(tx issuance.Tx) error {
			return tx.(issuance.ImageTx).PutImage(&issuance.Image{Kind: issuance.ImageStamp}, []byte("x"))
		}},
	}
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		for _, c := range put {
			err := e.issuance.Update(context.Background(), c.fn)
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, issuance.ErrInvalid) {
				t.Errorf("%s: %v, want an invalid-input error", c.name, err)
			}
		}
	})
}

func TestContractIssuanceRecordsIndexes(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		mustNil(t, "workload", e.issuance.Update(ctx, isuLayoutWorkload))
		ids := func(n int, id func(i int) string) string {
			s := ""
			for i := range n {
				s += id(i) + " "
			}
			return s
		}
		err := e.issuance.View(ctx, func(tx issuance.Tx) error {
			ext := tx.(issuance.ExtTx)
			checks := []struct {
				name, want string
				got        func() (string, error)
			}{
				{"people of the old org", "", func() (string, error) {
					ps, err := tx.People("IEC1")
					return ids(len(ps), func(i int) string { return ps[i].ID }), err
				}},
				{"people of the new org", "p1 ", func() (string, error) {
					ps, err := tx.People("IEC2")
					return ids(len(ps), func(i int) string { return ps[i].ID }), err
				}},
				{"offices", "o1 o2 ", func() (string, error) {
					os, err := tx.Offices("AG")
					return ids(len(os), func(i int) string { return os[i].ID }), err
				}},
				{"applications of the old office", "", func() (string, error) {
					as, err := tx.Applications(issuance.Query{Office: "o1"})
					return ids(len(as), func(i int) string { return as[i].ID }), err
				}},
				{"applications of the new office", "A1 ", func() (string, error) {
					as, err := tx.Applications(issuance.Query{Office: "o2"})
					return ids(len(as), func(i int) string { return as[i].ID }), err
				}},
				{"applications of an IEC in a state", "A2 ", func() (string, error) {
					as, err := tx.Applications(issuance.Query{IEC: "IEC2", State: "draft"})
					return ids(len(as), func(i int) string { return as[i].ID }), err
				}},
				{"by certificate", "A1 ", func() (string, error) {
					a, err := tx.ApplicationByCertificate("CERT1")
					if err != nil {
						return "", err
					}
					return a.ID + " ", nil
				}},
				{"movements", "1:100 2:70 ", func() (string, error) {
					ms, err := tx.Movements("IEC1", "o1")
					return ids(len(ms), func(i int) string { return fmt.Sprintf("%d:%d", ms[i].Seq, ms[i].Balance) }), err
				}},
				{"balance", "7 ", func() (string, error) {
					b, err := tx.Balance("IEC2", "o1")
					return fmt.Sprintf("%d ", b), err
				}},
				{"no balance", "0 ", func() (string, error) {
					b, err := tx.Balance("IEC9", "o1")
					return fmt.Sprintf("%d ", b), err
				}},
				{"attachments", "ab cd ", func() (string, error) {
					as, err := ext.Attachments("A1")
					return ids(len(as), func(i int) string { return as[i].SHA256 }), err
				}},
				{"empty attachment", "0 ", func() (string, error) {
					_, data, err := ext.Attachment("A1", "cd")
					return fmt.Sprintf("%d ", len(data)), err
				}},
				{"api clients", "k1 ", func() (string, error) {
					cs, err := ext.APIClients("IEC1")
					return ids(len(cs), func(i int) string { return cs[i].ID }), err
				}},
				{"deleted credential", "gone ", func() (string, error) {
					if _, err := ext.Credential("h1"); !errors.Is(err, issuance.ErrNotFound) {
						return "", err
					}
					return "gone ", nil
				}},
				{"deleted pending signature", "gone ", func() (string, error) {
					if _, err := tx.PendingSignature("A2"); !errors.Is(err, issuance.ErrNotFound) {
						return "", err
					}
					return "gone ", nil
				}},
			}
			for _, c := range checks {
				if got, err := c.got(); err != nil || got != c.want {
					t.Errorf("%s = %q, %v; want %q", c.name, got, err, c.want)
				}
			}
			if as, err := ext.Attachments("A9"); err != nil || as == nil || len(as) != 0 {
				t.Errorf("no attachments = %#v, %v; want an empty list", as, err)
			}
			return nil
		})
		mustNil(t, "view", err)
	})
}

func TestContractIssuanceRecordsReadOnly(t *testing.T) {
	writes := []struct {
		name string
		fn   func(tx issuance.Tx) error
	}{
		{"put", func(tx issuance.Tx) error { return tx.PutExporter(&issuance.Exporter{IEC: "X"}) }},
		{"next number", func(tx issuance.Tx) error { _, err := tx.NextSeq("S"); return err }},
		{"delete", func(tx issuance.Tx) error { return tx.(issuance.ExtTx).DeleteCredential("h2") }},
	}
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		// Once on a store without buckets, once with every bucket there.
		for _, round := range []string{"empty store", "other records"} {
			for _, w := range writes {
				if err := e.issuance.View(ctx, w.fn); err == nil {
					t.Errorf("%s: %s in a read-only transaction succeeded", round, w.name)
				}
			}
			mustNil(t, "workload", e.issuance.Update(ctx, isuLayoutWorkload))
		}
		err := e.issuance.View(ctx, func(tx issuance.Tx) error {
			if _, err := tx.Exporter("X"); !errors.Is(err, issuance.ErrNotFound) {
				t.Errorf("exporter written in a read-only transaction: %v", err)
			}
			if _, err := tx.(issuance.ExtTx).Credential("h2"); err != nil {
				t.Errorf("credential deleted in a read-only transaction: %v", err)
			}
			return nil
		})
		mustNil(t, "view", err)
	})
}

// TestContractIssuanceRecordsMissingBytes: a record whose bytes are gone
// reads the same on both engines (before the records were shared, bbolt
// returned such an image or attachment with no bytes and no error).
func TestContractIssuanceRecordsMissingBytes(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		mustNil(t, "workload", e.issuance.Update(ctx, isuLayoutWorkload))
		mustNil(t, "lose bytes", e.issuance.Update(ctx, func(tx issuance.Tx) error {
			kv := isuKVOf(t, tx)
			if err := kv.kvDelete(bktIsuImageData, key([]byte(issuance.ImageStamp), []byte("o1"))); err != nil {
				return err
			}
			return kv.kvDelete(bktIsuAttachData, key([]byte("A1"), []byte("ab")))
		}))
		err := e.issuance.View(ctx, func(tx issuance.Tx) error {
			if img, data, err := tx.(issuance.ImageTx).Image(issuance.ImageStamp, "o1"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("image without bytes = %+v %q %v, want ErrCorrupt", img, data, err)
			}
			if a, data, err := tx.(issuance.ExtTx).Attachment("A1", "ab"); !errors.Is(err, issuance.ErrNotFound) || !errors.Is(err, ErrNotFound) {
				t.Errorf("attachment without bytes = %+v %q %v, want not found", a, data, err)
			}
			return nil
		})
		mustNil(t, "view", err)
	})
}

// TestContractIssuanceEnqueueMessages: the issuance API's webhooks and
// notifications (issuance/api.Sink) are queued in the issuance
// transaction on both engines, checked first, and commit with it or not
// at all.
func TestContractIssuanceEnqueueMessages(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		enqueue := func(after error, msgs ...OutMessage) error {
			return e.issuance.Update(ctx, func(tx issuance.Tx) error {
				q, ok := tx.(issuanceEnqueuer)
				if !ok {
					return fmt.Errorf("%T cannot queue messages", tx)
				}
				if err := q.EnqueueMessages(msgs...); err != nil {
					return err
				}
				return after
			})
		}
		boom := errors.New("boom")
		if err := enqueue(boom, msg("w1", "webhook", "k1/A1", 0, "webhook", "{}")); !errors.Is(err, boom) {
			t.Fatalf("failing update: %v", err)
		}
		if _, err := e.outbox.Get(ctx, "w1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("message of a rolled-back transaction: %v", err)
		}
		bad := []struct {
			name string
			m    OutMessage
		}{
			{"empty content", msg("w2", "webhook", "k1/A1", 0, "webhook", "")},
			{"no partner", msg("w2", "", "k1/A1", 0, "webhook", "{}")},
			{"NUL in id", msg("w\x002", "webhook", "k1/A1", 0, "webhook", "{}")},
		}
		for _, c := range bad {
			if err := enqueue(nil, msg("w3", "mail", "a@b", 0, "mail", "hi"), c.m); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", c.name, err)
			}
		}
		mustNil(t, "enqueue", enqueue(nil, msg("w1", "webhook", "k1/A1", 0, "webhook", "{}"), msg("w3", "mail", "a@b", 0, "mail", "hi")))
		for _, id := range []string{"w1", "w3"} {
			if r, err := e.outbox.Get(ctx, id); err != nil || r.State != StateQueued {
				t.Errorf("message %s: %+v %v", id, r, err)
			}
		}
	})
}

// TestContractIssuanceWalletConcurrent: movements of concurrent issuance
// transactions on one e-wallet are all counted, numbered without gaps, and
// never take the balance below zero.
func TestContractIssuanceWalletConcurrent(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		move := func(amount int64) error {
			return e.issuance.Update(ctx, func(tx issuance.Tx) error {
				return tx.AddMovement(&issuance.Movement{IEC: "IEC1", Office: "o1", Amount: amount, Reason: "r"})
			})
		}
		mustNil(t, "credit", move(5))
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				amount := int64(1)
				if i%2 == 0 {
					amount = -1
				}
				errs <- move(amount)
			}()
		}
		wg.Wait()
		close(errs)
		refused := 0
		for err := range errs {
			switch {
			case errors.Is(err, issuance.ErrInsufficientFunds):
				refused++
			case err != nil:
				t.Fatalf("movement: %v", err)
			}
		}
		err := e.issuance.View(ctx, func(tx issuance.Tx) error {
			ms, err := tx.Movements("IEC1", "o1")
			if err != nil {
				return err
			}
			bal := int64(0)
			for i, m := range ms {
				bal += m.Amount
				if m.Seq != uint64(i+1) || m.Balance != bal || bal < 0 {
					t.Errorf("movement %d: %+v after balance %d", i, m, bal-m.Amount)
				}
			}
			if got, err := tx.Balance("IEC1", "o1"); err != nil || got != bal || len(ms) != 21-refused {
				t.Errorf("balance %d (%v), movements %d with %d refused; want %d", got, err, len(ms), refused, bal)
			}
			return nil
		})
		mustNil(t, "view", err)
	})
}

// An office that moves to another agency is listed under the new agency
// only.
func TestContractIssuanceOfficeMoves(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		mustNil(t, "write", e.issuance.Update(ctx, func(tx issuance.Tx) error {
			if err := tx.PutOffice(&issuance.Office{ID: "om", Agency: "AG1", Name: "Kolkata"}); err != nil {
				return err
			}
			return tx.PutOffice(&issuance.Office{ID: "om", Agency: "AG2", Name: "Kolkata"})
		}))
		mustNil(t, "view", e.issuance.View(ctx, func(tx issuance.Tx) error {
			for _, c := range []struct {
				agency string
				want   int
			}{{"AG1", 0}, {"AG2", 1}} {
				os, err := tx.Offices(c.agency)
				if err != nil || len(os) != c.want {
					t.Errorf("Offices(%s) = %d offices, %v; want %d", c.agency, len(os), err, c.want)
				}
			}
			return nil
		}))
	})
}
