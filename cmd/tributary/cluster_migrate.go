package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// newClusterMigrateCmd is `tributary cluster migrate`: the offline opt-in
// that lets a single broker's data dir become the first member of a
// cluster (server.PrepareClusterMigration).
func newClusterMigrateCmd() *cobra.Command {
	var (
		dataDir string
		nodeID  int32
	)
	cmd := &cobra.Command{
		Use:   "migrate --data-dir DIR --node-id N",
		Short: "Prepare a stopped single broker's data dir to become node N of a new cluster, keeping its topics, offsets, users and ACLs",
		Long: `Prepare the data dir of a stopped single broker to join a cluster as node
--node-id. Nothing is sent anywhere: the data dir is checked (no broker runs
on it, it holds topics and is no cluster member's yet) and marked
(meta/cluster-migrate). The next start of that data dir with cluster
settings (controller.quorum.voters or metadata.store, node.id = --node-id)
registers every topic in the cluster's metadata with its topic ID,
partitions and configs, each partition led by this node, with its data,
committed group offsets and idempotent producers as they are; users and
ACLs are imported into a cluster that has none. The cluster must be new,
or hold none of the topics. Then add brokers and raise the replication
factor with a reassignment (see the README's cluster section).

Without this step a cluster start refuses a single broker's data dir, and
once migrated the data dir no longer starts as a single broker. To cancel
before the cluster start, delete meta/cluster-migrate.`,
		Example: `  tributary cluster migrate --data-dir /var/lib/tributary --node-id 1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return usageError{errors.New("cluster migrate: --data-dir is required")}
			}
			if nodeID < 0 {
				return usageError{errors.New("cluster migrate: --node-id is required (an integer >= 0)")}
			}
			return runClusterMigrate(cmd.OutOrStdout(), dataDir, nodeID)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the stopped single broker's data dir")
	cmd.Flags().Int32Var(&nodeID, "node-id", -1, "the node.id the data dir's broker has in the cluster")
	return cmd
}

func runClusterMigrate(w io.Writer, dataDir string, nodeID int32) error {
	// OpenManager creates a missing dir: a mistyped path must not become
	// an empty data dir.
	if fi, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("cluster migrate: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("cluster migrate: %s is not a directory", dataDir)
	}
	m, err := tlog.OpenManager(dataDir, tlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if errors.Is(err, tlog.ErrLocked) {
		return fmt.Errorf("cluster migrate: %w: stop the broker first", err)
	}
	if err != nil {
		return fmt.Errorf("cluster migrate: %w", err)
	}
	plan, err := server.PrepareClusterMigration(m, nodeID)
	if cerr := m.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cluster migrate: %w", err)
	}
	rows := make([][]string, 0, len(plan.Topics))
	for _, t := range plan.Topics {
		rows = append(rows, []string{t.Name, t.ID.String(), strconv.Itoa(int(t.Partitions)), strconv.FormatInt(t.LogEnd, 10)})
	}
	if err := printTable(w, []string{"TOPIC", "TOPIC-ID", "PARTITIONS", "LOG-END-OFFSETS"}, rows); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\n%s is prepared to join a cluster as node %d: %d topic(s) are registered, led by node %d with replication factor 1, at its first start with cluster settings (--node-id %d). Producer ids continue from %d.\n",
		dataDir, nodeID, len(plan.Topics), nodeID, nodeID, plan.ProducerIDsEnd)
	return err
}
