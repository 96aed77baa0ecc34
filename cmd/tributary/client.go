package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Client settings shared by the commands that talk to a broker.
const (
	// adminTimeout bounds one admin command end to end, so that a broker
	// that is down fails the command instead of hanging it.
	adminTimeout = 30 * time.Second
	// dialTimeout fails fast on an address nothing listens on.
	dialTimeout = 5 * time.Second
)

// newClient connects a franz-go client to cmd's --brokers.
func newClient(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	var seeds []string
	for _, b := range strings.Split(brokersFlag(cmd), ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("--brokers is empty")
	}
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTimeout(dialTimeout), kgo.ClientID("tributary-cli")}
	return kgo.NewClient(append(base, opts...)...)
}

// withAdmin runs fn with an admin client over --brokers and a context
// bounded by adminTimeout.
func withAdmin(cmd *cobra.Command, fn func(ctx context.Context, adm *kadm.Client) error) error {
	cl, err := newClient(cmd)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
	defer cancel()
	return fn(ctx, kadm.NewClient(cl))
}

// outputFormat is an --output flag: text for people, json for machines.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "text|json" }

func (o *outputFormat) Set(v string) error {
	switch v {
	case "text", "json":
		*o = outputFormat(v)
		return nil
	}
	return fmt.Errorf("want text or json")
}

func addOutputFlag(cmd *cobra.Command, o *outputFormat) {
	*o = "text"
	cmd.Flags().VarP(o, "output", "o", "output format: text (tables) or json")
}

// writeJSON writes v indented, as the json output of a command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseConfigs reads repeated name=value flags into a map.
func parseConfigs(flag string, kvs []string) (map[string]*string, error) {
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--%s %q: want name=value", flag, kv)
		}
		m[strings.TrimSpace(k)] = &v
	}
	return m, nil
}

// kafkaErr folds a broker error and its message into one string.
func kafkaErr(err error, msg string) error {
	if msg != "" && err != nil && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w (%s)", err, msg)
	}
	return err
}
