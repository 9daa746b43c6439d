package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
	bolt "go.etcd.io/bbolt"
)

// The stored layout of the issuance records: the same workload on both
// engines leaves the same buckets, keys and bytes, and those are the bytes
// of testdata/isu_layout.golden (written by the code before the records
// were shared between the engines: existing bbolt files and PostgreSQL
// databases read back as they are). Regenerate the file only for an
// intended change of the layout, with ECOGATE_UPDATE_GOLDEN=1; such a
// change needs a migration.

const isuLayoutGolden = "testdata/isu_layout.golden"

// isuEngine is one engine's issuance store with a dump of every issuance
// bucket entry, one line each ("bucket hex(key) quoted(value)"), sorted.
type isuEngine struct {
	name  string
	store issuance.Store
	dump  func(t *testing.T) string
}

func eachIssuanceEngine(t *testing.T, fn func(t *testing.T, e isuEngine)) {
	t.Run("bbolt", func(t *testing.T) {
		db, _ := openTest(t, newFakeClock())
		fn(t, isuEngine{"bbolt", db.Issuance(), func(t *testing.T) string {
			var lines []string
			err := db.bolt.View(func(tx *bolt.Tx) error {
				return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
					if !strings.HasPrefix(string(name), "isu_") {
						return nil
					}
					return b.ForEach(func(k, v []byte) error {
						lines = append(lines, fmt.Sprintf("%s %x %q", name, k, v))
						return nil
					})
				})
			})
			mustNil(t, "dump bbolt", err)
			sort.Strings(lines)
			return strings.Join(lines, "\n") + "\n"
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		pg := openPGTest(t, newFakeClock())
		fn(t, isuEngine{"postgres", pg.Issuance(), func(t *testing.T) string {
			rows, err := pg.pool.Query(context.Background(), "SELECT bucket, k, v FROM isu_kv")
			mustNil(t, "dump isu_kv", err)
			defer rows.Close()
			var lines []string
			for rows.Next() {
				var b string
				var k, v []byte
				mustNil(t, "scan isu_kv", rows.Scan(&b, &k, &v))
				lines = append(lines, fmt.Sprintf("%s %x %q", b, k, v))
			}
			mustNil(t, "rows", rows.Err())
			sort.Strings(lines)
			return strings.Join(lines, "\n") + "\n"
		}})
	})
}

// isuLayoutWorkload writes one of every issuance record, moves some
// between indexes and deletes others.
func isuLayoutWorkload(tx issuance.Tx) error {
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	ext, img := tx.(issuance.ExtTx), tx.(issuance.ImageTx)
	a1 := &issuance.Application{ID: "A1", IEC: "IEC1", State: "draft"}
	a1.Content.Office = "o1"
	a2 := &issuance.Application{ID: "A2", IEC: "IEC2", State: "draft"}
	steps := []func() error{
		func() error {
			return tx.PutAgency(&issuance.Agency{ID: "AG", Name: "Agency", Series: "IN-AG", Admin: "p9", Created: at})
		},
		func() error {
			return tx.PutOffice(&issuance.Office{ID: "o1", Agency: "AG", Code: "DEL", Fees: map[issuance.Kind]int64{"origin": 500}, EWallet: true, Created: at})
		},
		func() error { return tx.PutOffice(&issuance.Office{ID: "o2", Agency: "AG", Code: "BOM", Created: at}) },
		func() error {
			return tx.PutExporter(&issuance.Exporter{IEC: "IEC1", Name: "Exporter \"one\"", GSTIN: "07AAA", Fetched: at, Created: at})
		},
		func() error {
			return tx.PutPerson(&issuance.Person{ID: "p1", Name: "P One", Org: "IEC1", Registered: at})
		},
		func() error {
			return tx.PutPerson(&issuance.Person{ID: "p1", Name: "P One", Org: "IEC2", Registered: at})
		},
		func() error { return tx.PutPerson(&issuance.Person{ID: "p2", Org: "AG", Offices: []string{"o1"}}) },
		func() error { return tx.PutApplication(a1) },
		func() error { a1.Content.Office, a1.Certificate = "o2", "CERT1"; return tx.PutApplication(a1) },
		func() error { return tx.PutApplication(a2) },
		func() error {
			return tx.AddMovement(&issuance.Movement{IEC: "IEC1", Office: "o1", Amount: 100, Reason: "credit"})
		},
		func() error {
			return tx.AddMovement(&issuance.Movement{IEC: "IEC1", Office: "o1", Amount: -30, Reason: "fee"})
		},
		func() error {
			return tx.AddMovement(&issuance.Movement{IEC: "IEC2", Office: "o1", Amount: 7, Reason: "credit"})
		},
		func() error { _, err := tx.NextSeq("S"); return err },
		func() error { _, err := tx.NextSeq("S"); return err },
		func() error { _, err := tx.NextSeq("T"); return err },
		func() error {
			return tx.PutDSC(&issuance.DSC{Person: "p1", Chain: [][]byte{{1, 2, 0xff}}, Serial: "01", NotBefore: at, NotAfter: at.AddDate(1, 0, 0)})
		},
		func() error {
			return tx.PutPendingSignature(&issuance.PendingSignature{Application: "A1", Number: "CERT1", Document: []byte("<x/>"), Prepared: at})
		},
		func() error {
			return tx.PutPendingSignature(&issuance.PendingSignature{Application: "A2", Prepared: at})
		},
		func() error { return tx.DeletePendingSignature("A2") },
		func() error {
			return tx.PutDeclaration(&issuance.SignedDeclaration{Application: "A1", Signer: "p1", SignedAt: at, Document: []byte{0, 1}})
		},
		func() error {
			return ext.PutAttachment(&issuance.Attachment{Application: "A1", SHA256: "ab", Name: "inv.pdf", Size: 3, At: at}, []byte("pdf"))
		},
		func() error {
			return ext.PutAttachment(&issuance.Attachment{Application: "A1", SHA256: "cd", Name: "empty"}, []byte{})
		},
		func() error {
			return ext.PutPayment(&issuance.PaymentRecord{Txn: "T1", Application: "A1", Amount: 500, Status: "SUCCESS", Received: at})
		},
		func() error { return ext.PutCredential(&issuance.Credential{Hash: "h1", Person: "p1", Created: at}) },
		func() error { return ext.PutCredential(&issuance.Credential{Hash: "h2", Person: "p2", Created: at}) },
		func() error { return ext.DeleteCredential("h1") },
		func() error {
			return ext.PutAPIClient(&issuance.APIClient{ID: "k1", IEC: "IEC1", Name: "erp", Created: at})
		},
		func() error {
			return img.PutImage(&issuance.Image{Kind: issuance.ImageStamp, Owner: "o1", Size: 2, Uploaded: at}, []byte("v1"))
		},
		func() error {
			return img.PutImage(&issuance.Image{Kind: issuance.ImageStamp, Owner: "o1", Size: 2, Uploaded: at}, []byte("v2"))
		},
		func() error {
			return img.PutImage(&issuance.Image{Kind: issuance.ImageSignature, Owner: "p1", Uploaded: at}, []byte{0x89, 'P'})
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return nil
}

func TestContractIssuanceLayout(t *testing.T) {
	dumps := map[string]string{}
	eachIssuanceEngine(t, func(t *testing.T, e isuEngine) {
		mustNil(t, "workload", e.store.Update(context.Background(), isuLayoutWorkload))
		dumps[e.name] = e.dump(t)
	})
	if dumps["bbolt"] != dumps["postgres"] {
		t.Fatalf("the engines store different bytes:\nbbolt:\n%s\npostgres:\n%s", dumps["bbolt"], dumps["postgres"])
	}
	got := dumps["bbolt"]
	if os.Getenv("ECOGATE_UPDATE_GOLDEN") == "1" {
		mustNil(t, "mkdir", os.MkdirAll(filepath.Dir(isuLayoutGolden), 0o755))
		mustNil(t, "write golden", os.WriteFile(isuLayoutGolden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(isuLayoutGolden)
	mustNil(t, "read golden", err)
	if got != string(want) {
		t.Fatalf("issuance layout changed (existing stores would not read back):\ngot:\n%s\nwant:\n%s", got, want)
	}
}
