package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecogate/ecogate/schema"
)

// codeListsEnv names the directory of the full code lists when
// --codelists is not given (until the node's configuration file holds it).
const codeListsEnv = "ECOGATE_CODELISTS"

// validateResult is one file's result in the --json output.
type validateResult struct {
	File     string          `json:"file"`
	Profile  string          `json:"profile"`
	Valid    bool            `json:"valid"`
	Findings schema.Findings `json:"findings"`
	// Error is set when the file could not be read; Valid is then false.
	Error string `json:"error,omitempty"`
}

// stringList is a repeatable flag value; a value may also list several
// items separated by commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated items of v.
func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// parseAt reads --at: an RFC 3339 date-time or a YYYY-MM-DD date (midnight UTC).
func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--at %q: write a date (2026-03-01) or a date-time (2026-03-01T10:30:00+07:00)", s)
}

// isJSONDoc decides the codec: .json and .xml by name, otherwise by the
// first non-space byte ('{' is JSON).
func isJSONDoc(name string, b []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return true
	case ".xml":
		return false
	}
	t := bytes.TrimLeft(b, " \t\r\n\xef\xbb\xbf")
	return len(t) > 0 && t[0] == '{'
}

func readDoc(name string, limit int64) ([]byte, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s is a directory", name)
		}
		r = f
	}
	// Read one byte past the limit so that the codec reports the size.
	return io.ReadAll(io.LimitReader(r, limit+1))
}

// validateUsage is the help of ecogate validate.
const validateUsage = `usage: ecogate validate [--profile NAME] [--codelists DIR] [--agreements FILE] [--json] FILE...

Checks e-CO documents (XML, or JSON for files ending in .json or starting
with '{'; - reads standard input) against the dataset, the code lists and
the agreement profile, and prints every finding as
  FILE: LEVEL CODE PATH: MESSAGE
then one summary line per file. Exit status: 0 when no document has a
SEVERE finding, 1 when one has, 2 on a usage or read error.

options:
`

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profileName := fs.String("profile", "", "agreement profile `NAME` ("+strings.Join(schema.ProfileNames(), ", ")+"); default: the document's freeTradeAgreement")
	codeLists := fs.String("codelists", "", "`DIR` holding the full code lists ("+schema.HSFile+", "+schema.Rec20File+", "+schema.Rec21File+"); default $"+codeListsEnv+", else the built-in subsets")
	asJSON := fs.Bool("json", false, "write the results as a JSON array of {file, profile, valid, findings}")
	maxBytes := fs.Int64("max-bytes", schema.DefaultMaxBytes, "largest accepted document in `BYTES`")
	at := fs.String("at", "", "judge validity and expiry at this `TIME` (YYYY-MM-DD or RFC 3339) instead of now")
	var agreementFiles stringList
	fs.Var(&agreementFiles, "agreements", "agreement profile `FILE` (YAML, see docs/agreements/chafta.yaml) to add to the built-in ones; may be repeated")
	fs.Usage = func() {
		fmt.Fprint(stderr, validateUsage)
		fs.PrintDefaults()
	}
	files, err := parseArgs(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "ecogate validate: name at least one FILE (or - for standard input)")
		fs.Usage()
		return exitUsage
	}
	if *maxBytes <= 0 {
		fmt.Fprintln(stderr, "ecogate validate: --max-bytes must be positive")
		return exitUsage
	}
	extra, err := schema.LoadAgreementFiles(agreementFiles)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate validate: --agreements: %v\n", err)
		return exitUsage
	}
	var forced *schema.Profile
	if *profileName != "" {
		if forced = schema.LookupProfile(*profileName, extra); forced == nil {
			fmt.Fprintf(stderr, "ecogate validate: unknown profile %q: choose one of %s\n", *profileName, strings.Join(schema.ProfileNamesWith(extra), ", "))
			return exitUsage
		}
	}
	opts := schema.ValidateOptions{Profile: forced, CodeLists: schema.DefaultCodeLists(), Agreements: extra}
	dir := *codeLists
	if dir == "" {
		dir = os.Getenv(codeListsEnv)
	}
	if dir != "" {
		cl, err := schema.LoadCodeLists(dir)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate validate: %v\n", err)
			return exitUsage
		}
		opts.CodeLists = cl
	}
	if *at != "" {
		t, err := parseAt(*at)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate validate: %v\n", err)
			return exitUsage
		}
		opts.Now = func() time.Time { return t }
	}
	dopts := schema.DecodeOptions{MaxBytes: *maxBytes}

	code := exitOK
	var results []validateResult
	nValid, nInvalid, nErr := 0, 0, 0
	for _, name := range files {
		res := validateResult{File: name, Findings: schema.Findings{}}
		b, err := readDoc(name, *maxBytes)
		if err != nil {
			res.Error = err.Error()
			fmt.Fprintf(stderr, "ecogate validate: %v\n", err)
			code = exitUsage
			nErr++
			results = append(results, res)
			continue
		}
		var c *schema.Certificate
		var dfs schema.Findings
		if isJSONDoc(name, b) {
			c, dfs = schema.DecodeJSON(b, dopts)
		} else {
			c, dfs = schema.DecodeXML(b, dopts)
		}
		res.Findings = append(res.Findings, dfs...)
		if c != nil {
			p := forced
			if p == nil {
				p = schema.ProfileForWith(c, extra)
			}
			if p != nil {
				res.Profile = p.Name
			}
			res.Findings = append(res.Findings, schema.Validate(c, opts)...)
		}
		res.Valid = c != nil && !res.Findings.HasSevere()
		if res.Valid {
			nValid++
		} else {
			nInvalid++
			if code == exitOK {
				code = exitFail
			}
		}
		results = append(results, res)
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			fmt.Fprintf(stderr, "ecogate validate: %v\n", err)
			return exitUsage
		}
		return code
	}
	for _, res := range results {
		if res.Error != "" {
			fmt.Fprintf(stdout, "%s: ERROR %s\n", res.File, res.Error)
			continue
		}
		for _, f := range res.Findings {
			path := f.Path
			if path == "" {
				path = "(document)"
			}
			fmt.Fprintf(stdout, "%s: %s %s %s: %s\n", res.File, f.Level, f.Code, path, f.Message)
		}
		verdict := "valid"
		if !res.Valid {
			verdict = "INVALID"
		}
		profile := res.Profile
		if profile == "" {
			profile = "none"
		}
		fmt.Fprintf(stdout, "%s: %s (profile %s; %d SEVERE, %d WARNING, %d INFO)\n", res.File, verdict, profile,
			res.Findings.Count(schema.Severe), res.Findings.Count(schema.Warning), res.Findings.Count(schema.Info))
	}
	if len(results) > 1 {
		fmt.Fprintf(stdout, "%d files: %d valid, %d invalid, %d unreadable\n", len(results), nValid, nInvalid, nErr)
	}
	return code
}
