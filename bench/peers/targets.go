package peers

import (
	"fmt"
)

// Check is one target checked on a run's medians.
type Check struct {
	// Target says what is asked ("Tributary produce 100 B ≥ 0.9× kfake").
	Target string
	// Value is what was measured, with its spread.
	Value string
	// Known is false when the run lacks what the target needs (a peer that
	// was skipped, a cell that failed); Met is meaningless then.
	Known, Met bool
	// Median is the measured median (for a ratio target, the ratio of
	// medians) and Limit the target's bound on it: an upper bound if
	// AtMost, else a lower bound.
	Median, Limit float64
	AtMost        bool
}

// Verdict is "met", "missed: N% short", "missed: N% over" or "not
// measured".
func (c Check) Verdict() string {
	switch {
	case !c.Known:
		return "not measured"
	case c.Met:
		return "met"
	case c.AtMost:
		return fmt.Sprintf("missed: %.0f%% over", 100*(c.Median/c.Limit-1))
	}
	return fmt.Sprintf("missed: %.0f%% short", 100*(1-c.Median/c.Limit))
}

// The systems and workloads the targets name.
const (
	targetSystem = KindTributary
)

// checkTargets checks Tributary's targets: throughput against kfake and
// Redis in the same run, absolute throughput and server CPU, and
// end-to-end latency.
func checkTargets(s *Summary) []Check {
	rps := Measurement.RecordsPerSec
	return []Check{
		s.ratioCheck("produce-100B", KindKfake, 0.9, "Tributary produce 100 B records/s ≥ 0.9× kfake", rps),
		s.ratioCheck("produce-100B", "redis", 4, "Tributary produce 100 B records/s ≥ 4× Redis", rps),
		s.ratioCheck("consume-100B", KindKfake, 1.0, "Tributary consume 100 B records/s ≥ 1.0× kfake", rps),
		s.ratioCheck("consume-1KiB", KindKfake, 1.0, "Tributary consume 1 KiB records/s ≥ 1.0× kfake", rps),
		s.limitCheck("produce-1KiB", func(c *Cell) Spread { return c.MBPerSec }, 400, false, "Tributary produce 1 KiB ≥ 400 MB/s", "MB/s"),
		s.limitCheck("produce-100B", func(c *Cell) Spread { return c.ServerCPUPerGB }, 1.5, true, "Tributary server CPU ≤ 1.5 s/GB, produce 100 B", "s/GB"),
		s.limitCheck("produce-1KiB", func(c *Cell) Spread { return c.ServerCPUPerGB }, 0.5, true, "Tributary server CPU ≤ 0.5 s/GB, produce 1 KiB", "s/GB"),
		s.limitCheck("latency", func(c *Cell) Spread { return c.P99 }, 2, true, "Tributary end-to-end p99 ≤ 2 ms", "ms"),
		s.limitCheck("latency", func(c *Cell) Spread { return c.P999 }, 5, true, "Tributary end-to-end p99.9 ≤ 5 ms", "ms"),
	}
}

// ratioCheck checks that Tributary's median f on workload is at least min
// times other's.
func (s *Summary) ratioCheck(workload, other string, min float64, target string, f func(Measurement) float64) Check {
	c := Check{Target: target}
	ct, co := s.Cell(workload, targetSystem), s.Cell(workload, other)
	if ct == nil || co == nil || len(ct.OK) == 0 || len(co.OK) == 0 {
		return c
	}
	mt, mo := spreadBy(ct.OK, f).Median, spreadBy(co.OK, f).Median
	if mo <= 0 {
		return c
	}
	ratio := mt / mo
	c.Known, c.Met, c.Median, c.Limit = true, ratio >= min, ratio, min
	c.Value = fmt.Sprintf("%.2f×", ratio)
	if per := spreadOf(s.ratios(workload, targetSystem, other, f)); per.N > 1 {
		c.Value += fmt.Sprintf(" (per repetition %.2f–%.2f×)", per.Min, per.Max)
	}
	return c
}

// limitCheck checks Tributary's median of metric on workload against
// limit: at most (atMost) or at least.
func (s *Summary) limitCheck(workload string, metric func(*Cell) Spread, limit float64, atMost bool, target, unit string) Check {
	c := Check{Target: target}
	ct := s.Cell(workload, targetSystem)
	if ct == nil || len(ct.OK) == 0 {
		return c
	}
	v := metric(ct)
	c.Known, c.Median, c.Limit, c.AtMost = true, v.Median, limit, atMost
	if atMost {
		c.Met = v.Median <= limit
	} else {
		c.Met = v.Median >= limit
	}
	c.Value = fmt.Sprintf("%s %s", num(v.Median), unit)
	if v.N > 1 {
		c.Value += fmt.Sprintf(" [%s–%s]", num(v.Min), num(v.Max))
	}
	return c
}
