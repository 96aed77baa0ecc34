package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
)

// The environment of a broker child process, set by StartBroker and read
// by ServeChild.
const (
	// EnvBroker names the broker kind to run ("tributary", "kfake", ...).
	// A process that sees it set must call ServeChild instead of doing its
	// usual work.
	EnvBroker = "TRIBUTARY_BENCH_BROKER"
	// EnvDataDir is the broker's data directory.
	EnvDataDir = "TRIBUTARY_BENCH_DATA_DIR"
	// EnvListen is the address to listen on: always loopback, port 0.
	EnvListen = "TRIBUTARY_BENCH_LISTEN"
	// EnvPartitions is num.partitions for auto-created topics.
	EnvPartitions = "TRIBUTARY_BENCH_PARTITIONS"
)

// The child's side of the stdin/stdout protocol. The child writes
// "listening <host:port>" once the broker serves, then reads one command a
// line and answers each with "ok", "ok <result>" or "error <message>". End
// of stdin means shut down.
const (
	lineListening      = "listening "
	lineOK             = "ok"
	lineError          = "error "
	cmdCPUProfileStart = "cpuprofile start " // + path
	cmdCPUProfileStop  = "cpuprofile stop"
	cmdRusage          = "rusage" // answer: user and system CPU in µs
)

// listenAddr is where child brokers listen: loopback only, any free port.
const listenAddr = "127.0.0.1:0"

// ChildConfig is what a child broker is asked to run, from its environment.
type ChildConfig struct {
	Kind    string
	DataDir string
	// Listen is the address to listen on (127.0.0.1:0).
	Listen string
	// Partitions is num.partitions for auto-created topics (default 1).
	Partitions int
}

// StartFunc starts the broker cfg asks for and returns the address it
// serves on and a function that shuts it down.
type StartFunc func(cfg ChildConfig) (addr string, stop func() error, err error)

// ChildKind is the broker kind this process was started to run by
// StartBroker, or "" when it was not.
func ChildKind() string { return os.Getenv(EnvBroker) }

// ServeChild is the whole life of a broker child process: it starts the
// broker with start, announces its address on stdout, serves commands from
// stdin, and stops the broker when stdin closes or SIGTERM or SIGINT
// arrives. It returns the process's exit code; the caller exits with it
// (its stdin reader may still be blocked). Nothing else may write to
// stdout in a child.
func ServeChild(start StartFunc) int {
	return serveChild(start, os.Stdin, os.Stdout, os.Stderr)
}

func serveChild(start StartFunc, stdin io.Reader, stdout, stderr io.Writer) int {
	// Catch signals before the broker starts so that a SIGTERM during
	// startup still ends in a clean stop.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)

	cfg := ChildConfig{
		Kind:       os.Getenv(EnvBroker),
		DataDir:    os.Getenv(EnvDataDir),
		Listen:     os.Getenv(EnvListen),
		Partitions: 1,
	}
	if cfg.Listen == "" {
		cfg.Listen = listenAddr
	}
	if s := os.Getenv(EnvPartitions); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "bench child: bad %s=%q\n", EnvPartitions, s)
			return 2
		}
		cfg.Partitions = n
	}
	addr, stop, err := start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bench child: start %s: %v\n", cfg.Kind, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s%s\n", lineListening, addr)

	// The reader is left blocked on stdin if a signal ends the loop: the
	// process exits right after.
	cmds := make(chan string)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
	}()

	var prof *os.File // the CPU profile being written, if any
	stopProfile := func() error {
		if prof == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := prof.Close()
		prof = nil
		return err
	}
loop:
	for {
		select {
		case <-sigs:
			break loop
		case line, ok := <-cmds:
			if !ok {
				break loop
			}
			var (
				answer string
				err    error
			)
			switch {
			case strings.HasPrefix(line, cmdCPUProfileStart):
				if err = stopProfile(); err == nil {
					prof, err = startProfile(strings.TrimPrefix(line, cmdCPUProfileStart))
				}
			case line == cmdCPUProfileStop:
				err = stopProfile()
			case line == cmdRusage:
				var ru syscall.Rusage
				if err = syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
					answer = fmt.Sprintf(" %d %d", ru.Utime.Nano()/1e3, ru.Stime.Nano()/1e3)
				}
			default:
				err = fmt.Errorf("unknown command %q", line)
			}
			if err != nil {
				fmt.Fprintf(stdout, "%s%s\n", lineError, strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintln(stdout, lineOK+answer)
			}
		}
	}
	code := 0
	if err := stopProfile(); err != nil {
		fmt.Fprintf(stderr, "bench child: cpu profile: %v\n", err)
		code = 1
	}
	if err := stop(); err != nil {
		fmt.Fprintf(stderr, "bench child: stop %s: %v\n", cfg.Kind, err)
		code = 1
	}
	return code
}

func startProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
