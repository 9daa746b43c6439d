package schema

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// File names of the full code-list tables that LoadCodeLists reads, in the
// format of the reference copies in ../shared/codelists.
const (
	HSFile       = "hs2022.csv"               // section,hscode,description,parent,level
	Rec20File    = "unece-rec20-units.csv"    // Status,CommonCode,Name,Description,LevelCategory,Symbol,ConversionFactor
	Rec21File    = "unece-rec21-packages.csv" // Status,Code,Name,Description,NumericCode
	maxTableSize = 64 << 20                   // a code-list file larger than this is refused
)

// LoadCodeLists reads the full HS 2022, UN/ECE Rec 20 and Rec 21 tables from
// dir (files HSFile, Rec20File and Rec21File, all three required) and
// returns code lists that use them instead of the built-in subsets. Load
// once at start-up and share the result: it is read-only. Errors name the
// file, the line and what is wrong.
func LoadCodeLists(dir string) (*CodeLists, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("code lists: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("code lists: %s is not a directory", dir)
	}
	cl := &CodeLists{Dir: dir}
	read := func(name string, parse func([]byte, string) error) error {
		p := filepath.Join(dir, name)
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("code lists: %w (the directory must hold %s, %s and %s)", err, HSFile, Rec20File, Rec21File)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxTableSize+1))
		if err != nil {
			return fmt.Errorf("code lists: read %s: %w", p, err)
		}
		if len(b) > maxTableSize {
			return fmt.Errorf("code lists: %s is larger than %d bytes", p, maxTableSize)
		}
		return parse(b, p)
	}
	if err := read(HSFile, func(b []byte, p string) (err error) {
		cl.hs, cl.hsLevels, err = ParseHSTable(b, p)
		return err
	}); err != nil {
		return nil, err
	}
	if err := read(Rec20File, func(b []byte, p string) (err error) {
		cl.units, err = ParseRec20Table(b, p)
		return err
	}); err != nil {
		return nil, err
	}
	if err := read(Rec21File, func(b []byte, p string) (err error) {
		cl.packages, err = ParseRec21Table(b, p)
		return err
	}); err != nil {
		return nil, err
	}
	return cl, nil
}

// csvTable reads a CSV file with a header row and returns a function that
// yields each record with its line number, and the column index of each
// required header name (matched case-insensitively).
type csvTable struct {
	name string
	r    *csv.Reader
	cols map[string]int
}

func openCSV(b []byte, name string, required ...string) (*csvTable, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(b))
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: the file is empty; expected a header row with %s", name, strings.Join(required, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &csvTable{name: name, r: r, cols: map[string]int{}}
	for i, h := range hdr {
		t.cols[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, req := range required {
		if _, ok := t.cols[strings.ToLower(req)]; !ok {
			return nil, fmt.Errorf("%s line 1: the header has no column %q (columns: %s)", name, req, strings.Join(hdr, ","))
		}
	}
	return t, nil
}

// next returns the next record and its line, or io.EOF.
func (t *csvTable) next() ([]string, int, error) {
	rec, err := t.r.Read()
	if err != nil {
		if err == io.EOF {
			return nil, 0, err
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, 0, fmt.Errorf("%s line %d: %v", t.name, pe.StartLine, pe.Err)
		}
		return nil, 0, fmt.Errorf("%s: %w", t.name, err)
	}
	line, _ := t.r.FieldPos(0)
	return rec, line, nil
}

func (t *csvTable) get(rec []string, col string) string {
	return strings.TrimSpace(rec[t.cols[strings.ToLower(col)]])
}

// ParseHSTable reads an HS nomenclature table in the format of
// datasets/harmonized-system (section,hscode,description,parent,level) and
// returns the 6-digit subheadings and the 2- and 4-digit chapters and
// headings. Rows of section TOTAL are UN Comtrade aggregates (99, 9999,
// 999999 "commodities not specified", TOTAL), not HS, and are skipped.
// name is used in error messages.
func ParseHSTable(b []byte, name string) (subheadings, levels map[string]struct{}, err error) {
	t, err := openCSV(b, name, "section", "hscode", "level")
	if err != nil {
		return nil, nil, err
	}
	subheadings = make(map[string]struct{}, 6000)
	levels = make(map[string]struct{}, 1400)
	for {
		rec, line, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if strings.EqualFold(t.get(rec, "section"), "TOTAL") {
			continue
		}
		code, level := t.get(rec, "hscode"), t.get(rec, "level")
		if !allDigits(code) {
			return nil, nil, fmt.Errorf("%s line %d: hscode %q is not made of digits", name, line, code)
		}
		if level != "2" && level != "4" && level != "6" {
			return nil, nil, fmt.Errorf("%s line %d: level %q of hscode %s is not 2, 4 or 6", name, line, level, code)
		}
		if len(code) != int(level[0]-'0') {
			return nil, nil, fmt.Errorf("%s line %d: hscode %s has %d digits but level %s", name, line, code, len(code), level)
		}
		if !HSChapter(code[:2]) {
			return nil, nil, fmt.Errorf("%s line %d: hscode %s is not in an HS chapter (01 to 97, not 77)", name, line, code)
		}
		if level == "6" {
			subheadings[code] = struct{}{}
		} else {
			levels[code] = struct{}{}
		}
	}
	if len(subheadings) == 0 {
		return nil, nil, fmt.Errorf("%s: no 6-digit subheadings found", name)
	}
	return subheadings, levels, nil
}

// codeStatusOf maps a UN/ECE Status column: X deleted, D deprecated,
// anything else (empty, "+" added, "#" or "¦" changed, "=" reinstated) in force.
func codeStatusOf(s string) CodeStatus {
	switch strings.ToUpper(s) {
	case "X":
		return CodeDeleted
	case "D":
		return CodeDeprecated
	}
	return CodeValid
}

// keepBest records a code, keeping the most favourable status when a code
// appears twice (valid over deprecated over deleted).
func keepBest(m map[string]CodeStatus, code string, st CodeStatus) {
	if old, ok := m[code]; ok && old != CodeUnknown && old <= st {
		return
	}
	m[code] = st
}

func isCodeChars(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ParseRec20Table reads UN/ECE Recommendation 20 (units of measure) in the
// format of uncefact/vocab-codes (columns Status and CommonCode required).
func ParseRec20Table(b []byte, name string) (map[string]CodeStatus, error) {
	t, err := openCSV(b, name, "Status", "CommonCode")
	if err != nil {
		return nil, err
	}
	m := make(map[string]CodeStatus, 2200)
	for {
		rec, line, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		code := t.get(rec, "CommonCode")
		if !isCodeChars(code, 2, 3) {
			return nil, fmt.Errorf("%s line %d: CommonCode %q is not 2 or 3 capital letters or digits", name, line, code)
		}
		keepBest(m, code, codeStatusOf(t.get(rec, "Status")))
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: no unit codes found", name)
	}
	return m, nil
}

// ParseRec21Table reads UN/ECE Recommendation 21 (package type codes) in
// the format of uncefact/vocab-codes (columns Status and Code required).
func ParseRec21Table(b []byte, name string) (map[string]CodeStatus, error) {
	t, err := openCSV(b, name, "Status", "Code")
	if err != nil {
		return nil, err
	}
	m := make(map[string]CodeStatus, 420)
	for {
		rec, line, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		code := t.get(rec, "Code")
		if !isCodeChars(code, 2, 2) {
			return nil, fmt.Errorf("%s line %d: Code %q is not 2 capital letters or digits", name, line, code)
		}
		keepBest(m, code, codeStatusOf(t.get(rec, "Status")))
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: no package codes found", name)
	}
	return m, nil
}
