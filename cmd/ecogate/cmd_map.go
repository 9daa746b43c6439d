package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ecogate/ecogate/mapping"
	"github.com/ecogate/ecogate/schema"
)

// mapFormats are the output formats of ecogate map.
var mapFormats = map[string]string{
	"xml":  ".xml",  // the canonical e-CO XML (schema.EncodeXML)
	"json": ".json", // the canonical e-CO JSON (schema.EncodeJSON)
	"edi3": ".json", // edi3 / UN/CEFACT CoO JSON (mapping.ToEdi3)
	"ubl":  ".xml",  // OASIS UBL 2.1 CertificateOfOrigin (mapping.ToUBL)
}

func runMap(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate map", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "", "mapping profile: a built-in `NAME` ("+strings.Join(mapping.BuiltinNames(), ", ")+") or a YAML FILE")
	to := fs.String("to", "xml", "output `FORMAT`: xml (canonical e-CO XML), json (canonical JSON), edi3 (edi3 CoO JSON), ubl (UBL 2.1 CertificateOfOrigin)")
	outDir := fs.String("out", "", "write one file per certificate into `DIR` (named after the certificate number) instead of standard output")
	codeLists := fs.String("codelists", "", "`DIR` holding the full code lists for validation; default $"+codeListsEnv+", else the built-in subsets")
	noValidate := fs.Bool("no-validate", false, "do not validate the mapped certificates")
	at := fs.String("at", "", "judge validity at this `TIME` (YYYY-MM-DD or RFC 3339) instead of now")
	var agreementFiles stringList
	fs.Var(&agreementFiles, "agreements", "agreement profile `FILE` (YAML, see docs/agreements/chafta.yaml) to add to the built-in ones; may be repeated")
	showProfile := fs.Bool("show-profile", false, "print the YAML of the built-in profile named by --profile and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, mapUsage)
		fs.PrintDefaults()
	}
	files, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *profile == "" {
		fmt.Fprintln(stderr, "ecogate map: --profile is required: a built-in name ("+strings.Join(mapping.BuiltinNames(), ", ")+") or a YAML file")
		return exitUsage
	}
	if *showProfile {
		y, err := mapping.BuiltinYAML(*profile)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate map: no built-in profile %q (built-in: %s)\n", *profile, strings.Join(mapping.BuiltinNames(), ", "))
			return exitUsage
		}
		_, _ = stdout.Write(y)
		return exitOK
	}
	ext, ok := mapFormats[*to]
	if !ok {
		fmt.Fprintf(stderr, "ecogate map: --to %q: choose xml, json, edi3 or ubl\n", *to)
		return exitUsage
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "ecogate map: name exactly one input file IN (or - for standard input)")
		fs.Usage()
		return exitUsage
	}
	in := files[0]
	p, err := mapping.Open(*profile)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate map: %v\n", err)
		return exitUsage
	}
	opts, err := mapValidateOptions(agreementFiles, *codeLists, *noValidate, *at)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate map: %v\n", err)
		return exitUsage
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			fmt.Fprintf(stderr, "ecogate map: %v\n", err)
			return exitUsage
		}
	}

	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate map: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		r = f
	}
	rr, err := p.Records(r, in)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate map: %s: %v\n", in, err)
		return exitUsage
	}
	status := exitOK
	repeated := newFindingCounter()
	mapped, failed, severe := 0, 0, 0
	names := mapFileNames{}
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "ecogate map: interrupted")
			return exitUsage
		}
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", in, err)
			status = exitUsage
			break
		}
		c, notes, err := p.MapRecordNotes(rec)
		if err != nil {
			failed++
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(stderr, "%s: %s\n", in, line)
			}
			status = max(status, exitFail)
			continue
		}
		mapped++
		for _, f := range notes {
			repeated.add(rec.Name(), f, stderr, in)
		}
		if !*noValidate {
			fds := schema.Validate(c, opts)
			for _, f := range fds {
				repeated.add(rec.Name(), f, stderr, in)
			}
			if fds.HasSevere() {
				severe++
				status = max(status, exitFail)
			}
		}
		out, err := encodeMapped(c, *to)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s: cannot write %s: %v\n", in, rec.Name(), *to, err)
			status = max(status, exitFail)
			continue
		}
		if *outDir != "" {
			if err := os.WriteFile(filepath.Join(*outDir, names.next(c.Header.ID, n)+ext), out, 0o644); err != nil {
				fmt.Fprintf(stderr, "ecogate map: %v\n", err)
				return exitUsage
			}
			continue
		}
		if _, err := stdout.Write(out); err != nil {
			fmt.Fprintf(stderr, "ecogate map: %v\n", err)
			return exitUsage
		}
	}
	repeated.flush(stderr, in)
	fmt.Fprintf(stderr, "%s: %d mapped, %d failed to map, %d with SEVERE findings (profile %s)\n", in, mapped, failed, severe, p.Name)
	return status
}

// mapUsage is the help of ecogate map.
const mapUsage = `usage: ecogate map --profile NAME|FILE [--to xml|json|edi3|ubl] [--out DIR] [--agreements FILE] IN

Maps the records of IN (a domestic or partner file: JSON, NDJSON, CSV or
XML, as the profile says; - reads standard input) onto the canonical e-CO
dataset and prints each certificate in the chosen format. Mapping errors
(record, source field, rule) and the validation findings go to standard
error as
  IN: record N (key K): LEVEL CODE PATH: MESSAGE
A WARNING or INFO finding that recurs (same code, path and message) is
printed once at the end with the number of records it was found in.
A record that does not fit its profile is reported and skipped; the others
are still written. Exit status: 0 when every record mapped without a SEVERE
finding, 1 when a record failed to map or has a SEVERE finding, 2 on a
usage error, an unloadable profile or an unreadable input.

options:
`

// mapValidateOptions builds the validation options of ecogate map: the
// extra agreement files, the full code lists (flag, else
// $ECOGATE_CODELISTS, unless validation is off) and the --at time.
func mapValidateOptions(agreementFiles []string, codeLists string, noValidate bool, at string) (schema.ValidateOptions, error) {
	opts := schema.ValidateOptions{CodeLists: schema.DefaultCodeLists()}
	if len(agreementFiles) > 0 {
		extra, err := schema.LoadAgreementFiles(agreementFiles)
		if err != nil {
			return opts, fmt.Errorf("--agreements: %w", err)
		}
		opts.Agreements = extra
	}
	dir := codeLists
	if dir == "" {
		dir = os.Getenv(codeListsEnv)
	}
	if dir != "" && !noValidate {
		cl, err := schema.LoadCodeLists(dir)
		if err != nil {
			return opts, err
		}
		opts.CodeLists = cl
	}
	if at != "" {
		t, err := parseAt(at)
		if err != nil {
			return opts, err
		}
		opts.Now = func() time.Time { return t }
	}
	return opts, nil
}

// encodeMapped writes a mapped certificate in the --to format, ending in
// a newline.
func encodeMapped(c *schema.Certificate, to string) ([]byte, error) {
	var out []byte
	var err error
	switch to {
	case "xml":
		out, err = schema.EncodeXML(c)
	case "json":
		out, err = schema.EncodeJSON(c)
	case "edi3":
		out, err = mapping.ToEdi3(c)
	case "ubl":
		out, err = mapping.ToUBL(c)
	}
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out, nil
}

// mapFileNames names the --out files: the certificate number made safe
// for a file name (record-N without one), with -2, -3... for repeats.
type mapFileNames map[string]int

func (w mapFileNames) next(number string, n int) string {
	name := fileSafe(number)
	if name == "" {
		name = fmt.Sprintf("record-%d", n+1)
	}
	if k := w[name]; k > 0 {
		w[name]++
		return fmt.Sprintf("%s-%d", name, k+1)
	}
	w[name] = 1
	return name
}

// findingCounter prints SEVERE findings at once, with their record, and
// counts WARNING and INFO findings by code, path and message, so that
// flush prints each once, with the number of records it was found in.
type findingCounter struct {
	order []string
	seen  map[string]*countedFinding
}

type countedFinding struct {
	f     schema.Finding
	first string // the first record it was found in
	n     int
}

func newFindingCounter() *findingCounter {
	return &findingCounter{seen: map[string]*countedFinding{}}
}

func (fc *findingCounter) add(record string, f schema.Finding, w io.Writer, in string) {
	if f.Level == schema.Severe {
		fmt.Fprintf(w, "%s: %s: %s\n", in, record, f)
		return
	}
	k := string(f.Level) + "\x00" + f.Code + "\x00" + f.Path + "\x00" + f.Message
	if cf, ok := fc.seen[k]; ok {
		cf.n++
		return
	}
	fc.seen[k] = &countedFinding{f: f, first: record, n: 1}
	fc.order = append(fc.order, k)
}

func (fc *findingCounter) flush(w io.Writer, in string) {
	for _, k := range fc.order {
		cf := fc.seen[k]
		if cf.n == 1 {
			fmt.Fprintf(w, "%s: %s: %s\n", in, cf.first, cf.f)
			continue
		}
		fmt.Fprintf(w, "%s: %s records (first %s): %s\n", in, commas(cf.n), cf.first, cf.f)
	}
	fc.order, fc.seen = nil, map[string]*countedFinding{}
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileSafe turns a certificate number into a file name.
func fileSafe(s string) string {
	s = unsafeFileChars.ReplaceAllString(s, "_")
	s = strings.Trim(s, "._")
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
