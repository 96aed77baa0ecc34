package peers

// Command is the peer benchmark's command line. It runs from the peers
// test binary (TestPeers; make bench-peers), because the kfake control is
// a test dependency and because bench.StartBroker re-executes the running
// binary for each Kafka broker:
//
//	go test -count=1 -run '^TestPeers$' -v ./bench/peers -args \
//		-peers "-root $PWD -reps 3 -out BENCHMARKS.md -chart bench/png"
//
// nats-server and redis-server must be on PATH; a missing one is skipped
// with a note on how to install it. It installs nothing itself. The
// section goes between the peers markers of -out, replacing an earlier
// run's; the target checks are printed at the end.
// TRIBUTARY_BENCH_CPUPROFILE=dir writes a CPU profile of each workload on
// Tributary and kfake to dir.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Command runs the benchmark with the command-line args; file names in
// them are relative to -root (the repository). It returns the exit code.
func Command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		reps     = fs.Int("reps", 3, "repetitions; within each, every workload runs on every system in turn")
		systems  = fs.String("systems", "tributary,nats,redis,kfake", "systems to run, in this order")
		small    = fs.Int64("small", DefaultScale.Small, "records of the 100 B workloads")
		large    = fs.Int64("large", DefaultScale.Large, "records of the 1 KiB workloads")
		rate     = fs.Float64("rate", DefaultScale.Rate, "records/s of the latency workload")
		duration = fs.Duration("duration", DefaultScale.Duration, "length of the latency workload")
		out      = fs.String("out", "", "markdown file whose peers section to write (\"\": print the section instead)")
		chart    = fs.String("chart", "bench/png", "PNG chart to write (\"\": none)")
		dir      = fs.String("dir", "", "where the servers' temporary directories go (default: the system's)")
		jsonOut  = fs.String("json", "", "file to write every measurement to, as JSON (\"\": none)")
		from     = fs.String("from", "", "instead of running, report the measurements of a -json file")
		timeout  = fs.Duration("timeout", 2*time.Hour, "bound on the whole run")
	)
	root := fs.String("root", ".", "the repository: -out, -chart, -json and -from are relative to it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// The command line the report shows is in the repository's terms;
	// the files are opened under -root.
	rel := func(name string) string {
		if name == "" || filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(*root, name)
	}
	if *reps < 1 || *small < 1 || *large < 1 || *rate <= 0 || *duration <= 0 {
		fmt.Fprintln(stderr, "peers: -reps, -small, -large, -rate and -duration must be positive")
		return 2
	}
	syss, err := Lookup(strings.Split(*systems, ","))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	scale := Scale{Small: *small, Large: *large, Rate: *rate, Duration: *duration}
	var res *Results
	if *from != "" {
		b, err := os.ReadFile(rel(*from))
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			fmt.Fprintf(stderr, "peers: %s: %v\n", *from, err)
			return 1
		}
		*reps = res.Reps
		if s := scaleOf(res.Workloads); s != nil {
			scale, *small, *large, *rate, *duration = *s, s.Small, s.Large, s.Rate, s.Duration
		}
	} else {
		env := MachineEnv()
		env.Code = codeVersion(*root)
		res, err = Run(ctx, Config{
			Systems:   syss,
			Workloads: Workloads(scale),
			Reps:      *reps,
			Dir:       *dir,
			Log:       stderr,
		})
		if err != nil {
			fmt.Fprintln(stderr, err)
			if res == nil || len(res.Measurements) == 0 {
				return 1
			}
		}
		env.LoadAfter = LoadAverage()
		res.Env = env
		if *jsonOut != "" {
			b, jerr := json.MarshalIndent(res, "", "\t")
			if jerr == nil {
				jerr = os.WriteFile(rel(*jsonOut), append(b, '\n'), 0o644)
			}
			if jerr != nil {
				fmt.Fprintf(stderr, "peers: %s: %v\n", *jsonOut, jerr)
				return 1
			}
			fmt.Fprintf(stderr, "wrote %s\n", *jsonOut)
		}
	}
	sum := Summarise(res)

	command := fmt.Sprintf("make bench-peers BENCH_PEERS_ARGS='-reps %d", *reps)
	if scale != DefaultScale {
		command += fmt.Sprintf(" -small %d -large %d -rate %g -duration %v", *small, *large, *rate, *duration)
	}
	if *out != "" {
		command += " -out " + *out
	}
	chartLink := ""
	if *chart != "" {
		f, err := os.Create(rel(*chart))
		if err == nil {
			err = WriteChart(f, sum)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "peers: chart: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s\n", *chart)
		chartLink = *chart
		if *out != "" {
			if r, err := filepath.Rel(filepath.Dir(*out), *chart); err == nil {
				chartLink = filepath.ToSlash(r)
			}
		}
		command += " -chart " + *chart
	}
	if j := cmp.Or(*jsonOut, *from); j != "" {
		command += " -json " + j
	}
	command += "'"
	if *from == "" && *reps == 3 && scale == DefaultScale && *out == "BENCHMARKS.md" &&
		*chart == "bench/peers.png" && *jsonOut == "bench/peers.json" {
		command = "make bench-peers" // its defaults
	}

	var section bytes.Buffer
	if err := WriteMarkdown(&section, sum, chartLink, command); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *out == "" {
		stdout.Write(section.Bytes())
	} else {
		doc, err := os.ReadFile(rel(*out))
		if err != nil && !os.IsNotExist(err) {
			fmt.Fprintln(stderr, err)
			return 1
		}
		updated, err := RewriteSection(string(doc), section.String())
		if err == nil {
			err = os.WriteFile(rel(*out), []byte(updated), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "peers: %s: %v\n", *out, err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote the peers section of %s\n", *out)
	}

	for _, sk := range res.Skipped {
		fmt.Fprintf(stdout, "skipped %s: %s\n", sk.Label, sk.Reason)
	}
	fmt.Fprintln(stdout, "targets:")
	for _, c := range sum.Checks {
		v := c.Value
		if v == "" {
			v = "–"
		}
		fmt.Fprintf(stdout, "  %-50s %-40s %s\n", c.Target, v, c.Verdict())
	}
	if err != nil {
		return 1
	}
	return 0
}

// codeVersion names the code measured: the commit, and whether the working
// tree had changes on top of it.
func codeVersion(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := "commit `" + strings.TrimSpace(string(head)) + "`"
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		s += " plus uncommitted changes in the working tree"
	}
	return s
}

// scaleOf is the scale of the default workloads ws, or nil if ws are
// something else.
func scaleOf(ws []Workload) *Scale {
	var s Scale
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
	if ws2 := Workloads(s); len(ws2) != len(ws) {
		return nil
	}
	for i, w := range Workloads(s) {
		if w != ws[i] {
			return nil
		}
	}
	return &s
}
