package server

import (
	"runtime"
	"testing"
)

// TestBuildInfoMetric: tributary_build_info is 1 and names the Go version
// the broker was built with (and a version and revision label, whatever
// this test binary's build records).
func TestBuildInfoMetric(t *testing.T) {
	b := startBroker(t)
	families, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tributary_build_info" {
			continue
		}
		m := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if m.GetGauge().GetValue() != 1 || labels["goversion"] != runtime.Version() || labels["version"] == "" || labels["revision"] == "" {
			t.Fatalf("tributary_build_info %v %v", m.GetGauge().GetValue(), labels)
		}
		return
	}
	t.Fatal("no tributary_build_info")
}

// TestBuildVersionPrefersStampedValues: the values make build stamps win;
// without them the version and revision still name something.
func TestBuildVersionPrefersStampedValues(t *testing.T) {
	oldV, oldR := Version, Revision
	t.Cleanup(func() { Version, Revision = oldV, oldR })
	Version, Revision = "", ""
	if v, r := BuildVersion(); v == "" || r == "" {
		t.Errorf("unstamped: version %q, revision %q", v, r)
	}
	Version, Revision = "v1.2.3-4-gabcdef0-dirty", "abcdef0123"
	if v, r := BuildVersion(); v != Version || r != Revision {
		t.Errorf("stamped: version %q, revision %q", v, r)
	}
}
