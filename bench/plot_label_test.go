package bench

import "testing"

func TestSILabel(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.5, "0.5"}, {950, "950"}, {1000, "1k"}, {1200, "1.2k"}, {45000, "45k"},
		{999999, "1M"}, {1200000, "1.2M"}, {1250000, "1.25M"}, {3e9, "3G"}, {-2500, "-2.5k"},
	} {
		if got := SILabel(tt.v); got != tt.want {
			t.Errorf("SILabel(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	for _, tk := range (siTicks{}).Ticks(0, 1.6e6) {
		if tk.Label != "" && len(tk.Label) > 5 {
			t.Errorf("tick %v labelled %q", tk.Value, tk.Label)
		}
	}
}
