package store

import (
	"context"
	"errors"
	"strconv"
	"testing"
)

func TestSeedIssued(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	is := db.Issued()
	i := 0
	err := is.SeedIssued(2, func(put func(r *IssuedCert) error) bool {
		n := "IN-SEED-" + strconv.Itoa(i)
		if err := put(&IssuedCert{Country: "IN", Number: n, Version: 1, Token: "tok" + strconv.Itoa(i), Status: CertIssued, Data: []byte(`{"number":"` + n + `"}`)}); err != nil {
			t.Fatal(err)
		}
		i++
		return i < 5
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for j := range 5 {
		r, err := is.ByToken(ctx, "tok"+strconv.Itoa(j))
		if err != nil || r.Number != "IN-SEED-"+strconv.Itoa(j) || string(r.Data) == "" {
			t.Fatalf("record %d: %+v %v", j, r, err)
		}
	}
	if _, err := is.Get(ctx, "IN-SEED-5"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a sixth record: %v", err)
	}
	// bad input: no token, bad number
	for _, r := range []IssuedCert{{Number: "IN-X"}, {Number: "", Token: "t"}} {
		err := is.SeedIssued(0, func(put func(r *IssuedCert) error) bool {
			if e := put(&r); e == nil {
				t.Errorf("%+v accepted", r)
			}
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
