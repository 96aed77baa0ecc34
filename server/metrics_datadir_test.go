//go:build linux

package server

import "testing"

// TestDataDirSpaceGauges: the data dir's file system size and usable
// bytes are exported, as statfs reports them.
func TestDataDirSpaceGauges(t *testing.T) {
	b := startBroker(t)
	families, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		switch f.GetName() {
		case "tributary_data_dir_total_bytes", "tributary_data_dir_usable_bytes":
			got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	total, usable, err := diskSpace(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got["tributary_data_dir_total_bytes"] != float64(total) {
		t.Errorf("total %v, statfs says %d", got["tributary_data_dir_total_bytes"], total)
	}
	// Usable space moves with every other writer on the machine: within 1 GiB.
	if u := got["tributary_data_dir_usable_bytes"]; u <= 0 || u > float64(total) || u-float64(usable) > 1<<30 || float64(usable)-u > 1<<30 {
		t.Errorf("usable %v, statfs says %d of %d", u, usable, total)
	}
}
