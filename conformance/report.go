package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteJSON writes the report as indented JSON (for programs).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Time     string     `xml:"time,attr"`
	Suites   []junitSte `xml:"testsuite"`
}

type junitSte struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string      `xml:"name,attr"`
	Classname string      `xml:"classname,attr"`
	Time      string      `xml:"time,attr"`
	Failure   *junitFail  `xml:"failure,omitempty"`
	Skipped   *junitSkip  `xml:"skipped,omitempty"`
	SystemOut string      `xml:"system-out,omitempty"`
	Props     *junitProps `xml:"properties,omitempty"`
}

type junitProps struct {
	P []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitFail struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

type junitSkip struct {
	Message string `xml:"message,attr"`
}

func exchangesText(res Result) string {
	var b strings.Builder
	for i, e := range res.Exchanges {
		fmt.Fprintf(&b, "--- request %d (%s)\n%s\n", i+1, e.Identity, e.Request)
		if e.Error != "" {
			fmt.Fprintf(&b, "--- no answer: %s\n", e.Error)
		} else {
			fmt.Fprintf(&b, "--- answer %d\n%s\n", e.Status, e.Answer)
		}
	}
	return b.String()
}

// WriteJUnit writes the report as JUnit XML (one suite per group) for CI
// systems: FAIL is a failure, NOT APPLICABLE a skipped test.
func (r *Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "ecogate conformance " + r.Target, Tests: len(r.Results), Failures: r.Failed, Skipped: r.NotApplic,
		Time: fmt.Sprintf("%.3f", float64(r.Millis)/1000)}
	idx := map[string]int{}
	for _, res := range r.Results {
		i, ok := idx[res.Group]
		if !ok {
			i = len(out.Suites)
			idx[res.Group] = i
			out.Suites = append(out.Suites, junitSte{Name: res.Group})
		}
		c := junitCase{Name: res.ID + " " + res.Title, Classname: "conformance." + res.Group, Time: fmt.Sprintf("%.3f", float64(res.Millis)/1000),
			SystemOut: exchangesText(res), Props: &junitProps{P: []junitProp{{"rule", res.Rule}}}}
		switch res.Status {
		case Fail:
			c.Failure = &junitFail{Message: res.Reason, Text: res.Reason}
			out.Suites[i].Failures++
		case NotApplicable:
			c.Skipped = &junitSkip{Message: res.Reason}
			out.Suites[i].Skipped++
		}
		out.Suites[i].Tests++
		out.Suites[i].Cases = append(out.Suites[i].Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{"lower": strings.ToLower, "cls": func(s Status) string {
	return map[Status]string{Pass: "pass", Fail: "fail", NotApplicable: "na"}[s]
}}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>e-CO conformance: {{.Target}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}.pass{color:#070}.fail{color:#b00;font-weight:bold}.na{color:#777}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;font-size:12px}details{margin:.2em 0}</style></head><body>
<h1>e-CO node conformance report</h1>
<p>Target <code>{{.Target}}</code> (node {{.NodeCountry}}), played by kit partner {{.KitCountry}}, started {{.Started.Format "2006-01-02 15:04:05 MST"}}, {{.Millis}} ms.</p>
<p><strong class="{{if .Failed}}fail{{else}}pass{{end}}">{{.Passed}} passed, {{.Failed}} failed, {{.NotApplic}} not applicable.</strong></p>
<table><tr><th>id</th><th>verdict</th><th>what it checks</th><th>rule</th></tr>
{{range .Results}}<tr><td><code>{{.ID}}</code></td><td class="{{cls .Status}}">{{.Status}}</td><td>{{.Title}}{{if .Reason}}<br><em>{{.Reason}}</em>{{end}}
<details><summary>{{len .Exchanges}} exchange(s)</summary>{{range .Exchanges}}<pre>{{.Identity}}
{{.Request}}
{{if .Error}}no answer: {{.Error}}{{else}}→ {{.Status}}
{{.Answer}}{{end}}</pre>{{end}}</details></td><td>{{.Rule}}</td></tr>
{{end}}</table></body></html>
`))

// WriteHTML writes the report as a page for people.
func (r *Report) WriteHTML(w io.Writer) error { return htmlReport.Execute(w, r) }

// WriteFile writes the report in the format its extension names: .xml
// (JUnit), .html or .json.
func (r *Report) WriteFile(path string) error {
	var write func(io.Writer) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xml":
		write = r.WriteJUnit
	case ".html", ".htm":
		write = r.WriteHTML
	case ".json":
		write = r.WriteJSON
	default:
		return fmt.Errorf("report %s: the extension must be .xml (JUnit), .html or .json", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
