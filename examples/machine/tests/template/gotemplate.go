// The reference side of the `--format` differential test (src/template/differential.rs): every
// case of the corpus rendered by Go's own text/template, the way Docker Machine rendered it.
//
//	go run gotemplate.go corpus.json    prints [{"name", "output", "failed", "error"}, ...]
//
// Standard library only. Data is JSON decoded generically, except that integral numbers become
// Go ints (as the int fields of Docker Machine's structs were) and the others float64.
// Functions: Docker Machine's `json` (json.Marshal) and `prettyjson` (json.MarshalIndent, four
// spaces), and docker's `split`, `join`, `title`, `lower`, `upper` (strings.*); `join` also takes
// a decoded JSON list of strings. A case with "ls": true is an `ls --format` over rows, as
// Docker Machine's commands/ls.go did it: "table" prefix, trimmed spaces, `\t` and `\n`
// escapes, a newline after each row, the header map, a tabwriter(5, 1, 3, ' ').
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
)

type corpus struct {
	Inputs map[string]json.RawMessage `json:"inputs"`
	Cases  []testCase                 `json:"cases"`
}

type testCase struct {
	Name     string `json:"name"`
	Template string `json:"template"`
	Input    string `json:"input"`
	Ls       bool   `json:"ls"`
}

type result struct {
	Name   string `json:"name"`
	Output string `json:"output"`
	Failed bool   `json:"failed"`
	Error  string `json:"error"`
}

var funcs = template.FuncMap{
	"json": func(v interface{}) string {
		a, _ := json.Marshal(v)
		return string(a)
	},
	"prettyjson": func(v interface{}) string {
		a, _ := json.MarshalIndent(v, "", "    ")
		return string(a)
	},
	"split": strings.Split,
	"join":  join,
	"title": strings.Title,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

func join(list interface{}, sep string) (string, error) {
	switch l := list.(type) {
	case []string:
		return strings.Join(l, sep), nil
	case []interface{}:
		parts := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("join: element %d is %T, not a string", i, e)
			}
			parts[i] = s
		}
		return strings.Join(parts, sep), nil
	}
	return "", fmt.Errorf("join: %T is not a list", list)
}

// Docker Machine's ls headers and default format (commands/ls.go).
var headers = map[string]string{
	"Name":          "NAME",
	"Active":        "ACTIVE",
	"ActiveHost":    "ACTIVE_HOST",
	"ActiveSwarm":   "ACTIVE_SWARM",
	"DriverName":    "DRIVER",
	"State":         "STATE",
	"URL":           "URL",
	"SwarmOptions":  "SWARM_OPTIONS",
	"Swarm":         "SWARM",
	"EngineOptions": "ENGINE_OPTIONS",
	"Error":         "ERRORS",
	"DockerVersion": "DOCKER",
	"ResponseTime":  "RESPONSE",
}

const lsDefaultFormat = "table {{ .Name }}\t{{ .Active }}\t{{ .DriverName}}\t{{ .State }}\t{{ .URL }}\t{{ .Swarm }}\t{{ .DockerVersion }}\t{{ .Error}}"

func ints(v interface{}) interface{} {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return int(i)
		}
		f, _ := t.Float64()
		return f
	case []interface{}:
		for i := range t {
			t[i] = ints(t[i])
		}
	case map[string]interface{}:
		for k := range t {
			t[k] = ints(t[k])
		}
	}
	return v
}

func decode(raw json.RawMessage) interface{} {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		fmt.Fprintln(os.Stderr, "bad data:", err)
		os.Exit(2)
	}
	return ints(v)
}

func render(c testCase, input json.RawMessage) (string, error) {
	var out bytes.Buffer
	data := decode(input)
	if !c.Ls {
		t, err := template.New("").Funcs(funcs).Parse(c.Template)
		if err != nil {
			return "", err
		}
		err = t.Execute(&out, data)
		return out.String(), err
	}
	format := c.Template
	if format == "" {
		format = lsDefaultFormat
	}
	table := strings.HasPrefix(format, "table")
	if table {
		format = format[len("table"):]
	}
	format = strings.Trim(format, " ")
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("").Funcs(funcs).Option("missingkey=error").Parse(format + "\n")
	if err != nil {
		return "", err
	}
	var w io.Writer = &out
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(&out, 5, 1, 3, ' ', 0)
		w = tw
		if err := t.Execute(w, headers); err != nil {
			return "", err
		}
	}
	for _, row := range data.([]interface{}) {
		if err := t.Execute(w, row); err != nil {
			return "", err
		}
	}
	if tw != nil {
		tw.Flush()
	}
	return out.String(), nil
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var all corpus
	if err := json.Unmarshal(raw, &all); err != nil {
		fmt.Fprintln(os.Stderr, "bad corpus:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(all.Cases))
	for _, c := range all.Cases {
		input, ok := all.Inputs[c.Input]
		if !ok {
			fmt.Fprintf(os.Stderr, "case %q: no input %q\n", c.Name, c.Input)
			os.Exit(2)
		}
		out, err := render(c, input)
		r := result{Name: c.Name, Output: out}
		if err != nil {
			r.Failed, r.Output, r.Error = true, "", err.Error()
		}
		results = append(results, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
