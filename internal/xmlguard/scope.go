package xmlguard

// Scope is the set of namespace declarations in scope during a walk of an
// XML tree: prefix → URI, with O(1) Lookup, Push and PopTo (a stack of
// bindings per prefix and an undo log). It replaces walking up the tree or
// along a linked list of declarations, which costs the number of
// declarations in scope per lookup and so grows quadratically on hostile
// input. The zero value is not ready; use NewScope.
type Scope struct {
	m    map[string][]string
	undo []string
	// Ops counts the elementary operations done (lookups, pushes, pops),
	// for the tests that assert linear cost without timing.
	Ops int
}

// NewScope returns an empty Scope.
func NewScope() *Scope { return &Scope{m: make(map[string][]string)} }

// Push binds prefix ("" for the default namespace) to uri until the
// matching PopTo.
func (s *Scope) Push(prefix, uri string) {
	s.Ops++
	s.m[prefix] = append(s.m[prefix], uri)
	s.undo = append(s.undo, prefix)
}

// Mark returns the current depth of the undo log, for PopTo.
func (s *Scope) Mark() int { return len(s.undo) }

// PopTo removes the bindings pushed since mark was taken.
func (s *Scope) PopTo(mark int) {
	for len(s.undo) > mark {
		s.Ops++
		p := s.undo[len(s.undo)-1]
		s.undo = s.undo[:len(s.undo)-1]
		st := s.m[p]
		if len(st) == 1 {
			delete(s.m, p)
		} else {
			s.m[p] = st[:len(st)-1]
		}
	}
}

// Lookup returns the URI bound to prefix, and whether it is bound.
func (s *Scope) Lookup(prefix string) (string, bool) {
	s.Ops++
	st := s.m[prefix]
	if len(st) == 0 {
		return "", false
	}
	return st[len(st)-1], true
}
