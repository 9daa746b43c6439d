package issuance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"

	"go.yaml.in/yaml/v3"
)

// RegistryRecord is an exporter as the national trade registry (DGFT)
// holds it.
type RegistryRecord struct {
	IEC      string   `json:"iec" yaml:"iec"`
	Name     string   `json:"name" yaml:"name"`
	Address  string   `json:"address" yaml:"address"`
	GSTIN    string   `json:"gstin" yaml:"gstin"`
	Email    string   `json:"email,omitempty" yaml:"email,omitempty"`
	Mobile   string   `json:"mobile,omitempty" yaml:"mobile,omitempty"`
	Branches []Branch `json:"branches,omitempty" yaml:"branches,omitempty"`
}

// Registry fetches an exporter's details by IEC. Lookup returns an error
// wrapping ErrNotFound for an IEC the registry does not know.
type Registry interface {
	Lookup(ctx context.Context, iec string) (*RegistryRecord, error)
}

// FileRegistry is a Registry read from a YAML (or JSON) file holding a
// list of records under "exporters:". The file is read again when it
// changes, so an edit at the "registry" flows in on the next lookup.
// Unknown keys and malformed IECs or GSTINs are refused.
type FileRegistry struct {
	Path string

	mu      sync.Mutex
	stamp   string
	records map[string]RegistryRecord
}

// NewFileRegistry reads path once (to report a bad file at start).
func NewFileRegistry(path string) (*FileRegistry, error) {
	r := &FileRegistry{Path: path}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *FileRegistry) load() error {
	st, err := os.Stat(r.Path)
	if err != nil {
		return fmt.Errorf("trade registry file: %w", err)
	}
	stamp := fmt.Sprint(st.ModTime().UnixNano(), st.Size())
	if stamp == r.stamp && r.records != nil {
		return nil
	}
	b, err := os.ReadFile(r.Path)
	if err != nil {
		return fmt.Errorf("trade registry file: %w", err)
	}
	var f struct {
		Exporters []RegistryRecord `yaml:"exporters"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("trade registry file %s: %w", r.Path, err)
	}
	recs := make(map[string]RegistryRecord, len(f.Exporters))
	for i, e := range f.Exporters {
		if err := ValidIEC(e.IEC); err != nil {
			return fmt.Errorf("trade registry file %s: exporter %d: %w", r.Path, i+1, err)
		}
		if err := ValidGSTIN(e.GSTIN); err != nil {
			return fmt.Errorf("trade registry file %s: exporter %s: %w", r.Path, e.IEC, err)
		}
		if _, dup := recs[e.IEC]; dup {
			return fmt.Errorf("trade registry file %s: IEC %s is listed twice", r.Path, e.IEC)
		}
		recs[e.IEC] = e
	}
	r.records, r.stamp = recs, stamp
	return nil
}

// Lookup returns the record of iec.
func (r *FileRegistry) Lookup(ctx context.Context, iec string) (*RegistryRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(); err != nil {
		return nil, err
	}
	rec, ok := r.records[iec]
	if !ok {
		return nil, fmt.Errorf("IEC %s: %w in the trade registry; register it with DGFT first", iec, ErrNotFound)
	}
	rec.Branches = append([]Branch(nil), rec.Branches...)
	return &rec, nil
}
