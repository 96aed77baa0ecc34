// Command peers runs the peer benchmark (package bench/peers): Tributary,
// NATS JetStream, Redis Streams and kfake driven by the same workloads in
// one run, and writes the result as a markdown section and a PNG chart.
//
//	go run ./bench/cmd/peers -reps 3 -out BENCHMARKS.md -chart bench/peers.png
//
// (make bench-peers). nats-server and redis-server must be on PATH; a
// missing one is skipped with a note on how to install it. It installs
// nothing itself. The section goes between the peers markers of -out,
// replacing an earlier run's; the target checks are printed at the end.
// TRIBUTARY_BENCH_CPUPROFILE=dir writes a CPU profile of each workload on
// Tributary and kfake to dir.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tributary-io/tributary/bench"
	"github.com/tributary-io/tributary/bench/peers"
)

func main() {
	// This program re-executes itself to run Tributary and kfake in their
	// own processes (bench.StartBroker).
	if bench.ChildKind() != "" {
		os.Exit(bench.ServeChild(peers.ServeBroker))
	}
	os.Exit(run())
}

func run() int {
	var (
		reps     = flag.Int("reps", 3, "repetitions; within each, every workload runs on every system in turn")
		systems  = flag.String("systems", "tributary,nats,redis,kfake", "systems to run, in this order")
		small    = flag.Int64("small", peers.DefaultScale.Small, "records of the 100 B workloads")
		large    = flag.Int64("large", peers.DefaultScale.Large, "records of the 1 KiB workloads")
		rate     = flag.Float64("rate", peers.DefaultScale.Rate, "records/s of the latency workload")
		duration = flag.Duration("duration", peers.DefaultScale.Duration, "length of the latency workload")
		out      = flag.String("out", "", "markdown file whose peers section to write (\"\": print the section instead)")
		chart    = flag.String("chart", "bench/peers.png", "PNG chart to write (\"\": none)")
		dir      = flag.String("dir", "", "where the servers' temporary directories go (default: the system's)")
		jsonOut  = flag.String("json", "", "file to write every measurement to, as JSON (\"\": none)")
		from     = flag.String("from", "", "instead of running, report the measurements of a -json file")
		timeout  = flag.Duration("timeout", 2*time.Hour, "bound on the whole run")
	)
	flag.Parse()
	if *reps < 1 || *small < 1 || *large < 1 || *rate <= 0 || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "peers: -reps, -small, -large, -rate and -duration must be positive")
		return 2
	}
	syss, err := peers.Lookup(strings.Split(*systems, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	scale := peers.Scale{Small: *small, Large: *large, Rate: *rate, Duration: *duration}
	var res *peers.Results
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "peers: %s: %v\n", *from, err)
			return 1
		}
		*reps = res.Reps
		if s := scaleOf(res.Workloads); s != nil {
			scale, *small, *large, *rate, *duration = *s, s.Small, s.Large, s.Rate, s.Duration
		}
	} else {
		env := peers.MachineEnv()
		env.Code = codeVersion()
		res, err = peers.Run(ctx, peers.Config{
			Systems:   syss,
			Workloads: peers.Workloads(scale),
			Reps:      *reps,
			Dir:       *dir,
			Log:       os.Stderr,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			if res == nil || len(res.Measurements) == 0 {
				return 1
			}
		}
		env.LoadAfter = peers.LoadAverage()
		res.Env = env
		if *jsonOut != "" {
			b, jerr := json.MarshalIndent(res, "", "\t")
			if jerr == nil {
				jerr = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
			}
			if jerr != nil {
				fmt.Fprintf(os.Stderr, "peers: %s: %v\n", *jsonOut, jerr)
				return 1
			}
			fmt.Fprintf(os.Stderr, "wrote %s\n", *jsonOut)
		}
	}
	sum := peers.Summarise(res)

	command := fmt.Sprintf("go run ./bench/cmd/peers -reps %d", *reps)
	if scale != peers.DefaultScale {
		command += fmt.Sprintf(" -small %d -large %d -rate %g -duration %v", *small, *large, *rate, *duration)
	}
	if *out != "" {
		command += " -out " + *out
	}
	chartLink := ""
	if *chart != "" {
		f, err := os.Create(*chart)
		if err == nil {
			err = peers.WriteChart(f, sum)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "peers: chart: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", *chart)
		chartLink = *chart
		if *out != "" {
			if rel, err := filepath.Rel(filepath.Dir(*out), *chart); err == nil {
				chartLink = filepath.ToSlash(rel)
			}
		}
		command += " -chart " + *chart
	}
	if j := cmp.Or(*jsonOut, *from); j != "" {
		command += " -json " + j
	}

	var section bytes.Buffer
	if err := peers.WriteMarkdown(&section, sum, chartLink, command); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *out == "" {
		os.Stdout.Write(section.Bytes())
	} else {
		doc, err := os.ReadFile(*out)
		if err != nil && !os.IsNotExist(err) {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		updated, err := peers.RewriteSection(string(doc), section.String())
		if err == nil {
			err = os.WriteFile(*out, []byte(updated), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "peers: %s: %v\n", *out, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "wrote the peers section of %s\n", *out)
	}

	for _, sk := range res.Skipped {
		fmt.Printf("skipped %s: %s\n", sk.Label, sk.Reason)
	}
	fmt.Println("targets:")
	for _, c := range sum.Checks {
		v := c.Value
		if v == "" {
			v = "–"
		}
		fmt.Printf("  %-50s %-40s %s\n", c.Target, v, c.Verdict())
	}
	if err != nil {
		return 1
	}
	return 0
}

// codeVersion names the code measured: the commit, and whether the working
// tree had changes on top of it.
func codeVersion() string {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := "commit `" + strings.TrimSpace(string(head)) + "`"
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		s += " plus uncommitted changes in the working tree"
	}
	return s
}

// scaleOf is the scale of the default workloads ws, or nil if ws are
// something else.
func scaleOf(ws []peers.Workload) *peers.Scale {
	var s peers.Scale
	for _, w := range ws {
		switch w.Name {
		case "produce-100B":
			s.Small = w.Records
		case "produce-1KiB":
			s.Large = w.Records
		case "latency":
			s.Rate, s.Duration = w.Rate, w.Duration
		}
	}
	if ws2 := peers.Workloads(s); len(ws2) != len(ws) {
		return nil
	}
	for i, w := range peers.Workloads(s) {
		if w != ws[i] {
			return nil
		}
	}
	return &s
}
