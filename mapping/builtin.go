package mapping

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

//go:embed profiles/*.yaml
var builtinFS embed.FS

var (
	builtinOnce  sync.Once
	builtinCache map[string]*Profile
	builtinErr   error
)

func loadBuiltins() {
	builtinCache = map[string]*Profile{}
	ents, err := fs.ReadDir(builtinFS, "profiles")
	if err != nil {
		builtinErr = err
		return
	}
	for _, e := range ents {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		data, err := builtinFS.ReadFile("profiles/" + e.Name())
		if err != nil {
			builtinErr = err
			return
		}
		p, err := ParseProfile(data, name)
		if err != nil {
			builtinErr = fmt.Errorf("built-in %w", err)
			return
		}
		builtinCache[name] = p
	}
}

// BuiltinNames lists the built-in profiles: india-ecoo, edi3-coo, formd-csv.
func BuiltinNames() []string {
	builtinOnce.Do(loadBuiltins)
	out := make([]string, 0, len(builtinCache))
	for n := range builtinCache {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Builtin returns the built-in profile called name.
func Builtin(name string) (*Profile, error) {
	builtinOnce.Do(loadBuiltins)
	if builtinErr != nil {
		return nil, builtinErr
	}
	p, ok := builtinCache[name]
	if !ok {
		return nil, fmt.Errorf("no built-in profile %q (built-in: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return p, nil
}

// BuiltinYAML returns the YAML text of a built-in profile, to copy and adapt.
func BuiltinYAML(name string) ([]byte, error) {
	return builtinFS.ReadFile("profiles/" + name + ".yaml")
}
