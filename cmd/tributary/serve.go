package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

func init() { rootCmd.AddCommand(newServeCmd()) }

// serveOptions are serve's own flags; broker settings go to overrides.
type serveOptions struct {
	dataDir, listen, advertise, metricsListen, configFile string
	printConfig                                           bool
	overrides                                             overrides
}

func newServeCmd() *cobra.Command { return newServeCmdFor(&serveOptions{}) }

// newServeCmdFor is serve parsing its flags into o.
func newServeCmdFor(o *serveOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the broker: recover the data dir and serve Kafka clients",
		Long: `Run the broker: open and recover the data dir (taking its lock), serve Kafka
clients on --listen and Prometheus metrics on --metrics-listen; SIGINT or
SIGTERM drains connections, flushes and exits 0.

Broker settings use Kafka's server.properties names. Each is read, lowest
precedence first, from its default, the --config properties file, the
environment variable TRIBUTARY_<NAME> (dots and dashes as underscores,
upper case: TRIBUTARY_NUM_PARTITIONS), and the flag --<name> or
--set <name>=<value>. --print-config shows the result; deploy/tributary.properties
documents every setting.`,
		Example: `  tributary serve --data-dir ./data --listen 127.0.0.1:9092
  tributary serve --config deploy/tributary.properties --num.partitions 3
  TRIBUTARY_LOG_RETENTION_MS=3600000 tributary serve --set log.flush.interval.messages=1
  tributary serve --config broker.properties --print-config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd)
		},
	}
	own := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	own.StringVar(&o.dataDir, "data-dir", envOr(envDataDir, "./data"), "data directory (one broker per directory) (env "+envDataDir+")")
	own.StringVar(&o.listen, "listen", envOr(envListen, defaultListen), "address for Kafka clients (env "+envListen+")")
	own.StringVar(&o.advertise, "advertise", envOr(envAdvertise, ""), "host:port clients are told to connect to (default: the listen address) (env "+envAdvertise+")")
	own.StringVar(&o.metricsListen, "metrics-listen", envOr(envMetricsListen, defaultMetricsListen), "address serving /metrics (Prometheus), /healthz (liveness) and /readyz (readiness); empty disables (env "+envMetricsListen+")")
	own.StringVar(&o.configFile, "config", envOr(envConfig, ""), "broker settings file: Java properties with Kafka's names (env "+envConfig+")")
	own.BoolVar(&o.printConfig, "print-config", false, "print the effective broker settings as a properties file and exit")
	own.Var(setFlag{&o.overrides}, "set", "one broker setting as name=value (repeatable)")
	own.Var(&settingFlag{o: &o.overrides, name: server.BrokerLogLevel, def: "info", typ: "level"}, "log-level", "debug, info, warn or error: the setting log.level (env "+settingEnv(server.BrokerLogLevel)+")")
	own.Var(&settingFlag{o: &o.overrides, name: server.BrokerLogFormat, def: "text", typ: "text|json"}, "log-format", "text or json: the setting log.format (env "+settingEnv(server.BrokerLogFormat)+")")
	// The cluster's flags that operators and tests type, by the names of
	// Kafka's kafka-server-start examples: each sets its broker setting.
	for _, f := range []struct{ flag, setting, typ, def string }{
		{"node-id", server.BrokerNodeID, "int", "-1"},
		{"controller-listen", server.BrokerControllerListener, "host:port", ""},
		{"controller-quorum-voters", server.BrokerControllerQuorumVoters, "id@host:port,...", ""},
	} {
		own.Var(&settingFlag{o: &o.overrides, name: f.setting, def: f.def, typ: f.typ}, f.flag,
			"the setting "+f.setting+": "+strings.Replace(settingDocs[f.setting], " (also --"+f.flag+")", "", 1)+" (env "+settingEnv(f.setting)+")")
	}
	own.BoolP("help", "h", false, "help for serve")
	settings := settingFlags(&o.overrides)
	cmd.Flags().AddFlagSet(own)
	cmd.Flags().AddFlagSet(settings)
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		w := c.OutOrStderr()
		fmt.Fprintf(w, "Usage:\n  %s\n\nExamples:\n%s\n\nFlags:\n%s\nBroker settings (Kafka's names; env TRIBUTARY_<NAME>; also --set name=value):\n%s\nGlobal Flags:\n%s",
			c.UseLine(), c.Example, own.FlagUsages(), settings.FlagUsages(), c.InheritedFlags().FlagUsages())
		return nil
	})
	return cmd
}

// envOr is the value of the environment variable key, or def.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func (o *serveOptions) run(cmd *cobra.Command) error {
	envErr := checkEnv(os.Environ())
	settings, src, err := brokerSettings(o.configFile, os.LookupEnv, o.overrides.list)
	if envErr != nil || err != nil {
		var errs []error
		for _, e := range []error{envErr, err} {
			if e != nil {
				errs = append(errs, e)
			}
		}
		return oneError(errs)
	}
	// A Kafka server.properties may name the data dir and listeners
	// (log.dirs, listeners, advertised.listeners); serve's own flags and
	// their environment variables win over it.
	explicit := func(flag, env string) bool {
		_, set := os.LookupEnv(env)
		return set || cmd.Flags().Changed(flag)
	}
	if settings.DataDir != "" && !explicit("data-dir", envDataDir) {
		o.dataDir = settings.DataDir
	}
	listeners, err := o.listeners(settings, explicit("listen", envListen), explicit("advertise", envAdvertise))
	if err != nil {
		return err
	}
	settings.Server.Advertise = o.advertise
	interBroker, err := settings.Cluster.CheckClusterAddresses(listeners, o.metricsListen)
	if err != nil {
		return err
	}
	if o.printConfig {
		if note := settings.IgnoredNote(); note != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "tributary: note: %s: %s\n", ignoredNoteTitle, note)
		}
		for _, w := range settings.ClusterWarnings() {
			fmt.Fprintf(cmd.ErrOrStderr(), "tributary: warning: %s\n", w)
		}
		return o.printSettings(cmd, settings, src, listeners, interBroker)
	}
	logger := newLogger(cmd.ErrOrStderr(), settings.LogLevel, settings.LogFormat)
	slog.SetDefault(logger)
	version, revision := server.BuildVersion()
	logger.Info("tributary: starting", "version", version, "revision", revision, "go", runtime.Version(), "pid", os.Getpid())
	if note := settings.IgnoredNote(); note != "" {
		logger.Info("tributary: "+ignoredNoteTitle, "settings", note)
	}
	for _, w := range settings.ClusterWarnings() {
		logger.Warn("tributary: " + w)
	}
	// A cluster node (controller.quorum.voters or metadata.store): the
	// replication layer leads the partitions, and the node joins its
	// cluster once the listeners are open. Without them, nil: the single
	// broker it always was.
	var clusterOpts *server.ClusterOptions
	// srvRef is the server once built: a cluster node's Manager takes its
	// producer ID blocks through it (the first InitProducerId comes after).
	var srvRef atomic.Pointer[server.Server]
	var pidBlocks func() (int64, int64, error)
	if settings.Cluster.Enabled() {
		sec, err := settings.ClusterSecurity(listeners)
		if err != nil {
			return err
		}
		clusterOpts = &server.ClusterOptions{
			Config:                settings.Cluster,
			InterBroker:           interBroker,
			UncleanLeaderElection: settings.Topics.UncleanLeaderElectionEnable,
			Security:              sec,
		}
		pidBlocks = func() (int64, int64, error) { return srvRef.Load().ProducerIDBlock() }
	}

	// Catch signals before anything is open: a SIGTERM that arrives during
	// startup (a long recovery) must still end in a clean Close.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The probes answer from before the data dir opens (probes.go):
	// alive, and not ready yet, through recovery and the cluster's start.
	var probe *probes
	metricsAddr := "off"
	if o.metricsListen != "" {
		if probe, err = startProbes(o.metricsListen, &srvRef, logger); err != nil {
			return err
		}
		defer probe.close()
		metricsAddr = probe.addr
	}
	probe.setStage("recovering the data dir")

	start := time.Now()
	m, err := tlog.OpenManager(o.dataDir, tlog.Options{Logger: logger, Defaults: &settings.Topics,
		RetentionCheckInterval: settings.RetentionCheckInterval, ReplicatedLeadership: clusterOpts != nil,
		ProducerIDBlocks: pidBlocks})
	if err != nil {
		return err
	}
	logger.Info("tributary: data dir open", "dir", o.dataDir, "topics", len(m.Topics()), "took", time.Since(start))
	probe.setStage("starting the broker")
	err = run(ctx, logger, m, settings.Server, listeners, metricsAddr, clusterOpts, &srvRef)
	start = time.Now()
	logger.Info("tributary: shutting down, closing the data dir")
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	logger.Info("tributary: data dir closed", "took", time.Since(start))
	return err
}

// listeners are the listeners to serve: the one PLAINTEXT listener of
// --listen and --advertise when --listen is given (flag or environment)
// or the settings name no listeners, else the settings' listeners (Kafka's
// listeners and advertised.listeners), where an explicit --advertise
// replaces the advertised address of a single listener. o.listen and
// o.advertise are set to the first listener's, for --print-config.
func (o *serveOptions) listeners(settings server.BrokerSettings, listenSet, advertiseSet bool) ([]server.Listener, error) {
	ls, err := settings.ResolveListeners()
	if err != nil {
		return nil, err
	}
	if listenSet || ls == nil {
		return []server.Listener{{Name: server.DefaultListenerName, Protocol: auth.Plaintext, Addr: o.listen, Advertise: o.advertise}}, nil
	}
	if advertiseSet {
		if len(ls) != 1 {
			return nil, fmt.Errorf("serve: --advertise is one address, and listeners names %d listeners: set advertised.listeners instead", len(ls))
		}
		ls[0].Advertise = o.advertise
	}
	o.listen, o.advertise = ls[0].Addr, ls[0].Advertise
	return ls, nil
}

// ignoredNoteTitle heads the one line that names the Kafka settings
// accepted that change nothing here, with why.
const ignoredNoteTitle = "Kafka settings accepted that do not apply to this broker"

// newLogger is the broker's logger on w: level is log.level, format
// log.format (text is logfmt; json one object a line, for aggregators).
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo // the settings checked it already
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printSettings writes the effective settings as a properties file that
// --config reads back; a comment above each value not at its default says
// where it came from.
func (o *serveOptions) printSettings(cmd *cobra.Command, settings server.BrokerSettings, src settingSource, listeners []server.Listener, interBroker string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# tributary broker settings (defaults < --config < env %s<NAME> < flags)\n", envPrefix)
	fmt.Fprintf(&b, "# serve: --data-dir=%s --listen=%s --advertise=%s --metrics-listen=%s\n", o.dataDir, o.listen, o.advertise, o.metricsListen)
	printCluster(&b, settings.Cluster, interBroker)
	if len(listeners) > 1 || listeners[0].Name != server.DefaultListenerName || listeners[0].Protocol != auth.Plaintext {
		fmt.Fprintf(&b, "# listeners=%s\n", server.FormatListeners(listeners))
	}
	values := settings.Map()
	for _, name := range settingNames() {
		if from, ok := src[name]; ok {
			fmt.Fprintf(&b, "# from %s\n", from)
		}
		fmt.Fprintf(&b, "%s=%s\n", name, values[name])
	}
	printSecuritySettings(&b, settings, src)
	_, err := fmt.Fprint(cmd.OutOrStdout(), b.String())
	return err
}

// printCluster writes, as comments, what the cluster settings resolve
// to: the mode, this node's role and the addresses derived from them.
func printCluster(b *strings.Builder, c server.ClusterConfig, interBroker string) {
	switch {
	case !c.Enabled():
		b.WriteString("# cluster: off (a single broker: no controller.quorum.voters or metadata.store)\n")
		return
	case len(c.MetadataStore) > 0:
		fmt.Fprintf(b, "# cluster: node %d, a broker of the external metadata store %s\n", c.NodeID, strings.Join(c.StoreEndpoints(), ","))
	case c.IsVoter():
		fmt.Fprintf(b, "# cluster: node %d, a voter of %d: etcd peers on %s, etcd clients on %s", c.NodeID, len(c.Voters), c.ControllerListen, c.ClientListen())
		if v, ok := c.Voter(); ok && v.Addr() != c.ControllerListen {
			// Bound at one address, dialed at another (a proxy or NAT).
			fmt.Fprintf(b, "; dialed at its voter entry %s", v.Addr())
		}
		b.WriteString("\n")
	default:
		fmt.Fprintf(b, "# cluster: node %d, a broker (not a voter) of a quorum of %d\n", c.NodeID, len(c.Voters))
	}
	fmt.Fprintf(b, "# cluster: metadata store endpoints %s; inter-broker listener %s\n",
		strings.Join(c.StoreEndpoints(), ","), interBroker)
}

// printSecuritySettings writes the listener settings and the ssl.* and
// sasl.* settings as given (per listener ones included), sorted, with the
// value of each secret one (keys, passwords) shown as [hidden].
func printSecuritySettings(b *strings.Builder, settings server.BrokerSettings, src settingSource) {
	sec := map[string]string{
		"listeners":                      settings.Listeners,
		"advertised.listeners":           settings.AdvertisedListeners,
		"listener.security.protocol.map": settings.ListenerProtocolMap,
	}
	for k, v := range settings.Security {
		sec[k] = v
	}
	names := make([]string, 0, len(sec))
	for k, v := range sec {
		if v != "" {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	b.WriteString("# listeners and security (secret values are not shown)\n")
	for _, name := range names {
		if from, ok := src[name]; ok {
			fmt.Fprintf(b, "# from %s\n", from)
		}
		v := sec[name]
		if server.IsSecretSetting(name) {
			v = secretPlaceholder
		}
		// An inline PEM value goes on over lines, as --config reads it.
		fmt.Fprintf(b, "%s=%s\n", name, strings.ReplaceAll(v, "\n", "\\\n"))
	}
}

// run serves Kafka clients until ctx ends, then stops accepting, lets
// in-flight requests finish and returns. metricsAddr is where the probes
// listen (probes.go), for the log line.
func run(ctx context.Context, logger *slog.Logger, m *tlog.Manager, cfg server.Config, listeners []server.Listener, metricsAddr string, clusterOpts *server.ClusterOptions, srvRef *atomic.Pointer[server.Server]) error {
	cfg.Cluster = clusterOpts
	srv, err := server.New(m, cfg, logger)
	if err != nil {
		return err
	}
	srvRef.Store(srv)
	var first string
	var addrs []string
	for _, l := range listeners {
		addr, err := srv.ListenOn(l)
		if err != nil {
			srv.Close()
			return err
		}
		if first == "" {
			first = addr.String()
		}
		addrs = append(addrs, l.Name+"://"+addr.String())
	}
	if clusterOpts != nil {
		start := time.Now()
		logger.Info("tributary: joining the cluster", "node", clusterOpts.Config.NodeID, "voter", clusterOpts.Config.IsVoter(),
			"metadata_store", strings.Join(clusterOpts.Config.StoreEndpoints(), ","))
		if err := srv.StartCluster(ctx); err != nil {
			srv.Close()
			return err
		}
		logger.Info("tributary: joined the cluster", "cluster_id", srv.ClusterID(), "took", time.Since(start))
	}
	logger.Info("tributary: serving Kafka clients", "listen", first, "metrics", metricsAddr, "listeners", strings.Join(addrs, ","))
	<-ctx.Done()
	logger.Info("tributary: signal received, draining connections")
	start := time.Now()
	err = srv.Close()
	logger.Info("tributary: connections drained", "took", time.Since(start))
	return err
}
