package parley_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/parleyhq/parley"

// allowed lists, for each package, the project packages it may import
// (DESIGN §5): the root imports only the standard library, app only the
// root, adapters the root and their own libraries but never each other;
// cmd/parley alone wires everything together. A package not listed here
// fails the test until its rule is written down.
var allowed = map[string][]string{
	"":                           {},
	"app":                        {"", "internal/imaging", "internal/textsearch"},
	"argon2id":                   {""},
	"sqlite":                     {"", "internal/migrations", "internal/writeq", "internal/textsearch"},
	"postgres":                   {"", "internal/migrations", "internal/writeq", "internal/textsearch"},
	"storetest":                  {"", "internal/textsearch"},
	"inmem":                      {""},
	"redis":                      {""},
	"bustest":                    {""},
	"blob":                       {""},
	"blob/blobtest":              {""},
	"push":                       {""},
	"httpapi":                    {""},
	"engineio":                   {"internal/workers"},
	"engineio/wstest":            {"engineio"},
	"socketio":                   {"engineio"},
	"realtime":                   {"", "engineio", "socketio", "internal/workers"},
	"web":                        {},
	"client":                     {""},
	"client/clienttest":          {},
	"internal/loadgen":           {"", "client"},
	"internal/benchcompare":      {"internal/loadgen"},
	"internal/imaging":           {""},
	"internal/testenv":           {},
	"internal/faultnet":          {},
	"internal/chaos":             {},
	"internal/jstest":            {},
	"internal/migrations":        {},
	"internal/writeq":            {""},
	"internal/workers":           {},
	"internal/textsearch":        {""},
	"internal/metrics":           {},
	"internal/conformance":       {"engineio", "socketio"},
	"socketio/internal/membench": {"engineio", "socketio", "engineio/wstest"},
	"cmd/parley":                 nil, // the wiring: anything
}

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r, true
	}
	return "", false
}

func TestDependencyRule(t *testing.T) {
	for _, p := range listPackages(t) {
		name, _ := rel(p.ImportPath)
		rule, ok := allowed[name]
		if !ok {
			t.Errorf("package %q has no dependency rule in arch_test.go", name)
			continue
		}
		if rule == nil {
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := rel(imp)
			if !ours {
				continue
			}
			okDep := false
			for _, a := range rule {
				okDep = okDep || a == dep
			}
			if !okDep {
				t.Errorf("package %q imports %q, which its rule does not allow", name, dep)
			}
		}
	}
}

// TestReadmeLayout checks that the README's layout table names every
// package, so a newcomer finds each one.
func TestReadmeLayout(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range listPackages(t) {
		name, _ := rel(p.ImportPath)
		if name == "" {
			continue
		}
		if !bytes.Contains(readme, []byte("| `"+name+"` |")) {
			t.Errorf("package %q is missing from the README's layout table", name)
		}
	}
}

// TestStdlibOnly checks that the root package and the app import nothing
// outside the standard library (and the project).
func TestStdlibOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".", "./app").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if _, ours := rel(dep); !ours {
			t.Errorf("root or app depends on %s", dep)
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Doc == "" && len(p.GoFiles) > 0 {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}
