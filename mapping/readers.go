package mapping

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/xmlguard"
)

// RecordReader delivers the records of one source, one at a time. Next
// returns io.EOF after the last record. A record that cannot be read is
// delivered with its Err set (reported and skipped by the caller); an error
// from Next itself means the source cannot be read further.
type RecordReader interface {
	Next() (*Record, error)
}

// maxSource caps what a reader loads whole (XML, and JSON with 'records').
const maxSource = 1 << 30

// Records returns a reader of the records in r. name (a file name, may be
// "") picks line-delimited JSON for .ndjson and .jsonl files, where a bad
// line is one bad record and the next line is read normally.
func (p *Profile) Records(r io.Reader, name string) (RecordReader, error) {
	switch p.Format {
	case FormatCSV:
		return p.newCSVReader(r)
	case FormatXML:
		return p.newXMLReader(r)
	}
	ext := strings.ToLower(filepath.Ext(name))
	if (ext == ".ndjson" || ext == ".jsonl") && p.records == nil {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		return &ndjsonReader{p: p, sc: sc}, nil
	}
	if p.records != nil {
		data, err := io.ReadAll(io.LimitReader(r, maxSource))
		if err != nil {
			return nil, err
		}
		tree, err := decodeJSON(data)
		if err != nil {
			return nil, fmt.Errorf("the source is not JSON: %w", err)
		}
		ms, err := p.records.eval(tree, "", true)
		if err != nil {
			return nil, fmt.Errorf("records %s: %w", p.records.text, err)
		}
		return &listReader{p: p, ms: ms}, nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	first, err := peekNonSpace(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the source is empty")
		}
		return nil, err
	}
	jr := &jsonReader{p: p, dec: dec}
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		jr.array = true
	}
	return jr, nil
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err != nil {
			return 0, err
		}
		c := b[i-1]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && !(i <= 3 && (c == 0xEF || c == 0xBB || c == 0xBF)) {
			return c, nil
		}
		if i > 4096 {
			return 0, errors.New("the source starts with too much white space")
		}
	}
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("extra data after the JSON value")
	}
	return v, nil
}

// keyOf reads the profile's key field of a record tree.
func (p *Profile) keyOf(tree any) string {
	if p.key == nil {
		return ""
	}
	ms, err := p.key.eval(tree, "", false)
	if err != nil || len(ms) == 0 {
		return ""
	}
	s, _ := leafString(ms[0].node)
	return s
}

type jsonReader struct {
	p     *Profile
	dec   *json.Decoder
	array bool
	n     int
	done  bool
}

func (jr *jsonReader) Next() (*Record, error) {
	if jr.done {
		return nil, io.EOF
	}
	if jr.array && !jr.dec.More() {
		jr.done = true
		if _, err := jr.dec.Token(); err != nil {
			return nil, fmt.Errorf("after record %d: %w", jr.n, err)
		}
		return nil, io.EOF
	}
	var v any
	if err := jr.dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) && !jr.array {
			jr.done = true
			return nil, io.EOF
		}
		jr.done = true
		return nil, fmt.Errorf("record %d: the JSON is malformed (offset %d), the rest of the source cannot be read: %w", jr.n+1, jr.dec.InputOffset(), err)
	}
	if _, ok := v.([]any); ok && !jr.array {
		return nil, fmt.Errorf("record %d: a JSON array inside the stream; give one array of records or a stream of objects", jr.n+1)
	}
	rec := &Record{Index: jr.n, tree: v, Key: jr.p.keyOf(v)}
	jr.n++
	return rec, nil
}

type ndjsonReader struct {
	p    *Profile
	sc   *bufio.Scanner
	n    int
	line int
}

func (nr *ndjsonReader) Next() (*Record, error) {
	for nr.sc.Scan() {
		nr.line++
		b := bytes.TrimSpace(nr.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec := &Record{Index: nr.n, Pos: "line " + strconv.Itoa(nr.line)}
		nr.n++
		v, err := decodeJSON(b)
		if err != nil {
			rec.Err = fmt.Errorf("the line is not one JSON object: %v", err)
			return rec, nil
		}
		rec.tree = v
		rec.Key = nr.p.keyOf(v)
		return rec, nil
	}
	if err := nr.sc.Err(); err != nil {
		return nil, fmt.Errorf("after line %d: %w", nr.line, err)
	}
	return nil, io.EOF
}

type listReader struct {
	p  *Profile
	ms []match
	i  int
}

func (lr *listReader) Next() (*Record, error) {
	if lr.i >= len(lr.ms) {
		return nil, io.EOF
	}
	m := lr.ms[lr.i]
	rec := &Record{Index: lr.i, tree: m.node, Key: lr.p.keyOf(m.node), Pos: m.path}
	lr.i++
	return rec, nil
}

// CSV: a header row names the columns; consecutive rows with the same value
// in the key column form one record. The record tree has the first row's
// columns at the top (header fields) and every row under rows[*] (goods lines).

type csvReader struct {
	p       *Profile
	r       *csv.Reader
	header  []string
	keyIdx  int
	pending *csvRow
	n       int
	seen    map[string]int
	eof     bool
}

type csvRow struct {
	line   int
	fields []string
	err    error
}

func (p *Profile) newCSVReader(r io.Reader) (*csvReader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.Comma = p.csvDelimiter
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the CSV source is empty: it needs a header row")
		}
		return nil, fmt.Errorf("the CSV header row cannot be read: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF")
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	keyIdx := -1
	for i, h := range header {
		if h == p.keyColumn {
			keyIdx = i
		}
	}
	if p.keyColumn != "" && keyIdx < 0 {
		return nil, fmt.Errorf("the CSV has no key column %q (columns: %s)", p.keyColumn, strings.Join(header, ", "))
	}
	return &csvReader{p: p, r: cr, header: header, keyIdx: keyIdx, seen: map[string]int{}}, nil
}

func (c *csvReader) read() *csvRow {
	fields, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		c.eof = true
		return nil
	}
	line, _ := c.r.FieldPos(0)
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.StartLine
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				err = fmt.Errorf("the row has %d columns, the header %d", len(fields), len(c.header))
			}
		}
		return &csvRow{line: line, err: err}
	}
	return &csvRow{line: line, fields: fields}
}

func (c *csvReader) key(r *csvRow) string {
	if c.keyIdx < 0 || r.fields == nil {
		return ""
	}
	return strings.TrimSpace(r.fields[c.keyIdx])
}

func (c *csvReader) Next() (*Record, error) {
	first := c.pending
	c.pending = nil
	if first == nil {
		if c.eof {
			return nil, io.EOF
		}
		first = c.read()
		if first == nil {
			return nil, io.EOF
		}
	}
	rec := &Record{Index: c.n}
	c.n++
	if first.err != nil {
		rec.Pos = "line " + strconv.Itoa(first.line)
		rec.Err = first.err
		return rec, nil
	}
	rows := []*csvRow{first}
	key := c.key(first)
	if c.keyIdx >= 0 {
		for !c.eof {
			nx := c.read()
			if nx == nil {
				break
			}
			if nx.err != nil || c.key(nx) != key {
				c.pending = nx
				break
			}
			rows = append(rows, nx)
		}
	}
	last := rows[len(rows)-1].line
	rec.Key = key
	if last != first.line {
		rec.Pos = fmt.Sprintf("lines %d-%d", first.line, last)
	} else {
		rec.Pos = "line " + strconv.Itoa(first.line)
	}
	if c.keyIdx >= 0 {
		if key == "" {
			rec.Err = fmt.Errorf("the key column %q is empty", c.p.keyColumn)
			return rec, nil
		}
		if prev, ok := c.seen[key]; ok {
			rec.Err = fmt.Errorf("key %q already appeared in record %d: the rows of one record must be consecutive", key, prev+1)
			return rec, nil
		}
		c.seen[key] = rec.Index
	}
	list := make([]any, len(rows))
	for i, r := range rows {
		m := make(map[string]any, len(c.header))
		for j, h := range c.header {
			if j < len(r.fields) {
				m[h] = strings.TrimSpace(r.fields[j])
			}
		}
		list[i] = m
	}
	top := make(map[string]any, len(c.header)+1)
	for k, v := range list[0].(map[string]any) {
		top[k] = v
	}
	top["rows"] = list
	rec.tree = top
	return rec, nil
}

// XML: elements become objects keyed by local name; an element that occurs
// several times becomes a list; attributes are "@name"; an element with
// only text is its text. A DOCTYPE is refused.

type xmlReader struct {
	p   *Profile
	els []*etree.Element
	i   int
}

func (p *Profile) newXMLReader(r io.Reader) (*xmlReader, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSource))
	if err != nil {
		return nil, err
	}
	data = xmlguard.TrimBOM(data)
	// One linear streaming pass refuses directives and what crosses the
	// limits of internal/xmlguard (depth 64, 256 attributes and 64
	// namespace declarations per element) before etree builds a tree.
	if err := xmlguard.Check(data, xmlguard.Limits{MaxBytes: maxSource}); err != nil {
		if ge, ok := xmlguard.IsError(err); ok && ge.Reason == "xml.doctype" {
			return nil, errors.New("the XML source has a DOCTYPE, which is refused")
		}
		return nil, fmt.Errorf("the source is not accepted as XML: %w", err)
	}
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("the source is not well-formed XML: %w", err)
	}
	for _, t := range doc.Child {
		if d, ok := t.(*etree.Directive); ok && strings.HasPrefix(strings.TrimSpace(d.Data), "DOCTYPE") {
			return nil, errors.New("the XML source has a DOCTYPE, which is refused")
		}
	}
	root := doc.Root()
	if root == nil {
		return nil, errors.New("the XML source has no root element")
	}
	xr := &xmlReader{p: p}
	if p.records == nil {
		xr.els = []*etree.Element{root}
		return xr, nil
	}
	// records: a slash path from the root element (its first step names the root).
	steps := p.records.steps
	if len(steps) == 0 || steps[0].name != root.Tag {
		return nil, fmt.Errorf("records %s: the root element is %s", p.records.text, root.Tag)
	}
	cur := []*etree.Element{root}
	for _, st := range steps[1:] {
		if st.wild || st.isIdx {
			continue
		}
		var next []*etree.Element
		for _, e := range cur {
			for _, ch := range e.ChildElements() {
				if ch.Tag == st.name {
					next = append(next, ch)
				}
			}
		}
		cur = next
	}
	xr.els = cur
	return xr, nil
}

func (xr *xmlReader) Next() (*Record, error) {
	if xr.i >= len(xr.els) {
		return nil, io.EOF
	}
	e := xr.els[xr.i]
	tree := xmlTree(e)
	rec := &Record{Index: xr.i, tree: tree, Key: xr.p.keyOf(tree), Pos: "element " + e.GetPath()}
	xr.i++
	return rec, nil
}

func xmlTree(e *etree.Element) any {
	kids := e.ChildElements()
	if len(kids) == 0 && len(e.Attr) == 0 {
		return strings.TrimSpace(e.Text())
	}
	m := make(map[string]any, len(kids)+len(e.Attr))
	for _, a := range e.Attr {
		if a.Space == "xmlns" || a.Key == "xmlns" {
			continue
		}
		m["@"+a.Key] = a.Value
	}
	for _, k := range kids {
		v := xmlTree(k)
		if prev, ok := m[k.Tag]; ok {
			if l, ok := prev.([]any); ok {
				m[k.Tag] = append(l, v)
			} else {
				m[k.Tag] = []any{prev, v}
			}
			continue
		}
		m[k.Tag] = v
	}
	if len(kids) == 0 {
		if t := strings.TrimSpace(e.Text()); t != "" {
			m["#text"] = t
		}
	}
	return m
}

// ReadRecords reads every record of src. Records that cannot be read come
// back with Err set.
func (p *Profile) ReadRecords(r io.Reader, name string) ([]*Record, error) {
	rr, err := p.Records(r, name)
	if err != nil {
		return nil, err
	}
	var out []*Record
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
