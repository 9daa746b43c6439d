package issuance

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ecogate/ecogate/certs"
)

// DirKeys is OfficerKeys read from a directory the node operator keeps
// (issuance.heldKeys in the configuration): the key of person ID is the
// file ID.pem (PEM: PKCS#8, PKCS#1 or SEC 1), e.g.
// officer@eic.example.pem. A key is read once and kept in memory; a file
// added later is found on the next issue. An HSM plugs in as another
// OfficerKeys returning its crypto.Signer.
type DirKeys struct {
	Dir string

	mu    sync.Mutex
	cache map[string]crypto.Signer
}

// Key implements OfficerKeys.
func (d *DirKeys) Key(_ context.Context, id string) (crypto.Signer, error) {
	id = normID(id)
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\\x00") || len(id) > 254 {
		return nil, fmt.Errorf("%q is not a person id the node can hold a key for", id)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if k := d.cache[id]; k != nil {
		return k, nil
	}
	path := filepath.Join(d.Dir, id+".pem")
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("no held key for %s (expected %s)", id, path)
		}
		return nil, err
	}
	k, err := certs.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("held key %s: %w", path, err)
	}
	if d.cache == nil {
		d.cache = map[string]crypto.Signer{}
	}
	d.cache[id] = k
	return k, nil
}
