package server

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeListsServedAPIs: the README's table of APIs and versions is
// exactly what ApiVersions advertises, so the two cannot drift apart.
func TestReadmeListsServedAPIs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "## Kafka APIs served")
	if !ok {
		t.Fatal("README has no \"## Kafka APIs served\" section")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "## ") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.TrimSpace(cells[1]) == "API" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		names := strings.Split(cells[1], ",")
		versions := strings.Split(cells[2], ",")
		if len(names) != len(versions) {
			t.Fatalf("README row %q: %d APIs but %d version ranges", line, len(names), len(versions))
		}
		for i, n := range names {
			documented[strings.TrimSpace(n)] = strings.TrimSpace(versions[i])
		}
	}
	served := map[string]string{}
	for _, a := range registeredAPIs() {
		r := fmt.Sprintf("%d–%d", a.min, a.max)
		if a.min == a.max {
			r = fmt.Sprint(a.min)
		}
		name := a.name
		if name == "InitProducerID" {
			name = "InitProducerId" // Kafka's spelling
		}
		name = strings.Replace(name, "ACLs", "Acls", 1) // Kafka's spelling: DescribeAcls
		served[name] = r
	}
	for name, r := range served {
		if documented[name] != r {
			t.Errorf("README says %s %q, the broker serves %q", name, documented[name], r)
		}
	}
	for name := range documented {
		if _, ok := served[name]; !ok {
			t.Errorf("README lists %s, which the broker does not serve", name)
		}
	}
}

// TestReadmeMakeTargetsExist: every `make X` the README or BENCHMARKS.md
// tells a reader to type is a target of the Makefile.
func TestReadmeMakeTargetsExist(t *testing.T) {
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, line := range strings.Split(string(makefile), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && name != "" && !strings.ContainsAny(name, " \t#$=.") {
			targets[name] = true
		}
	}
	for _, doc := range []string{"../README.md", "../BENCHMARKS.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range makeTargetRe.FindAllStringSubmatch(string(text), -1) {
			if !targets[m[1]] {
				t.Errorf("%s says `make %s`, which the Makefile does not have", doc, m[1])
			}
		}
	}
}

// makeTargetRe finds `make X` in backquotes or a shell line.
var makeTargetRe = regexp.MustCompile("(?m)(?:`|^\\s*)make ([a-z][a-z0-9-]*)")

// TestReadmeListsBrokerSettings: every broker setting the broker serves is
// named, in backquotes, in the README (a `a.{b,c}.d` form names a.b.d and
// a.c.d), so a new setting cannot land undocumented.
func TestReadmeListsBrokerSettings(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	braces := regexp.MustCompile(`^([^{}]*)\{([^{}]*)\}(.*)$`)
	for _, m := range regexp.MustCompile("`([a-z0-9.{},]+)`").FindAllStringSubmatch(string(readme), -1) {
		if b := braces.FindStringSubmatch(m[1]); b != nil {
			for _, alt := range strings.Split(b[2], ",") {
				named[b[1]+alt+b[3]] = true
			}
			continue
		}
		named[m[1]] = true
	}
	d := DefaultBrokerSettings()
	for name := range d.Map() {
		if !named[name] {
			t.Errorf("README does not name the broker setting %s", name)
		}
	}
}
