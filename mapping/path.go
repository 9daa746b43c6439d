package mapping

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A source path selects values in a source record. Records from every
// reader (JSON, CSV, XML) are trees of map[string]any, []any and leaves
// (string, json.Number, bool, nil), so one path language serves all three.
//
//	a.b[0].c            object member, list index
//	items[*].x          every element of a list (a repeating group)
//	a/b/c               '/' separates segments like '.' (XML habit)
//	$.a.b               from the record root, inside a repeating group
//	^.a                 from the enclosing group element (one level up per '^.')
//	$index              1-based position of the current group element
//	^.$index            position of the enclosing group element
//	$key                the record key (the profile's key path or CSV key column)
//
// A segment name is any text without '.', '/', '[' or ']'. A wildcard or
// a member step applied to a non-list treats it as a one-element list, and
// a member step applied to a one-element list steps into that element, so
// XML elements that occur once or several times read alike.
type srcPath struct {
	text  string
	up    int  // number of '^.' prefixes
	abs   bool // '$.' prefix
	steps []step
	// special is "$index" or "$key" (after the prefixes), else "".
	special string
	wild    int // number of [*] steps
}

type step struct {
	name  string // member name; "" for a bare index step
	index int    // list index when isIdx
	isIdx bool
	wild  bool
}

func parseSrcPath(s string) (*srcPath, error) {
	p := &srcPath{text: s}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return nil, fmt.Errorf("empty source path")
	}
	for strings.HasPrefix(rest, "^.") || strings.HasPrefix(rest, "^/") {
		p.up++
		rest = rest[2:]
	}
	if rest == "^" {
		return nil, fmt.Errorf("source path %q: '^' must be followed by '.' and a field", s)
	}
	if strings.HasPrefix(rest, "$.") || strings.HasPrefix(rest, "$/") {
		if p.up > 0 {
			return nil, fmt.Errorf("source path %q: '$.' and '^.' cannot be combined", s)
		}
		p.abs = true
		rest = rest[2:]
	}
	if rest == "$index" || rest == "$key" {
		p.special = rest
		return p, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("source path %q selects nothing", s)
	}
	for _, seg := range splitSegments(rest) {
		if seg == "" {
			return nil, fmt.Errorf("source path %q: empty segment (two separators in a row?)", s)
		}
		name := seg
		if i := strings.IndexByte(seg, '['); i >= 0 {
			name = seg[:i]
			idx := seg[i:]
			if strings.ContainsAny(name, "]") {
				return nil, fmt.Errorf("source path %q: stray ']' in %q", s, seg)
			}
			if name != "" {
				p.steps = append(p.steps, step{name: name})
			}
			for idx != "" {
				if idx[0] != '[' {
					return nil, fmt.Errorf("source path %q: unexpected %q after an index in %q", s, idx, seg)
				}
				j := strings.IndexByte(idx, ']')
				if j < 0 {
					return nil, fmt.Errorf("source path %q: '[' without ']' in %q", s, seg)
				}
				in := idx[1:j]
				switch {
				case in == "*":
					p.steps = append(p.steps, step{wild: true})
					p.wild++
				default:
					n, err := strconv.Atoi(in)
					if err != nil || n < 0 {
						return nil, fmt.Errorf("source path %q: index %q must be a number ≥ 0 or '*'", s, in)
					}
					p.steps = append(p.steps, step{index: n, isIdx: true})
				}
				idx = idx[j+1:]
			}
			continue
		}
		if strings.ContainsAny(name, "]") {
			return nil, fmt.Errorf("source path %q: stray ']' in %q", s, seg)
		}
		p.steps = append(p.steps, step{name: name})
	}
	return p, nil
}

// splitSegments splits at '.' and '/' outside brackets.
func splitSegments(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.', '/':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// match is one node that a path selected, with its concrete path and the
// wildcard frames it passed through (used by repeating groups).
type match struct {
	node   any
	path   string
	frames []frame
}

type frame struct {
	node  any
	path  string
	index int // 0-based
}

// eval applies the steps to node, whose concrete path is base.
func (p *srcPath) eval(node any, base string, track bool) ([]match, error) {
	cur := []match{{node: node, path: base}}
	for _, st := range p.steps {
		var next []match
		for _, m := range cur {
			switch {
			case st.wild:
				list, ok := m.node.([]any)
				if !ok {
					if m.node == nil {
						continue
					}
					list = []any{m.node}
				}
				for i, el := range list {
					np := ""
					if track {
						np = m.path + "[" + strconv.Itoa(i) + "]"
					}
					fr := make([]frame, len(m.frames), len(m.frames)+1)
					copy(fr, m.frames)
					fr = append(fr, frame{node: el, path: np, index: i})
					next = append(next, match{node: el, path: np, frames: fr})
				}
			case st.isIdx:
				list, ok := m.node.([]any)
				if !ok {
					if m.node != nil && st.index == 0 {
						next = append(next, m)
					}
					continue
				}
				if st.index < len(list) {
					np := ""
					if track {
						np = m.path + "[" + strconv.Itoa(st.index) + "]"
					}
					next = append(next, match{node: list[st.index], path: np, frames: m.frames})
				}
			default:
				n := m.node
				np := m.path
				if list, ok := n.([]any); ok {
					if len(list) != 1 {
						if len(list) == 0 {
							continue
						}
						return nil, fmt.Errorf("%s holds %d values; select one with [n] or all with [*]", displayPath(m.path), len(list))
					}
					n = list[0]
					if track {
						np += "[0]"
					}
				}
				obj, ok := n.(map[string]any)
				if !ok {
					continue
				}
				v, ok := obj[st.name]
				if !ok {
					continue
				}
				if track {
					if np == "" {
						np = st.name
					} else {
						np = np + "." + st.name
					}
				}
				next = append(next, match{node: v, path: np, frames: m.frames})
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil, nil
		}
	}
	return cur, nil
}

func displayPath(p string) string {
	if p == "" {
		return "the record"
	}
	return p
}

// leafString returns the text of a leaf and whether it is one.
func leafString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case nil:
		return "", true
	}
	return "", false
}

// walkLeaves calls fn for every leaf under node, in a deterministic order
// (object members sorted by name).
func walkLeaves(node any, path string, fn func(path, value string)) {
	switch x := node.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkLeaves(x[k], p, fn)
		}
	case []any:
		for i, el := range x {
			walkLeaves(el, path+"["+strconv.Itoa(i)+"]", fn)
		}
	default:
		s, _ := leafString(x)
		if x != nil {
			fn(path, s)
		}
	}
}
