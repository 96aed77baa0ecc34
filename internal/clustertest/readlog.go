package clustertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// LogRecord is one record found in a partition's log.
type LogRecord struct {
	Offset int64
	ID     ID
	OK     bool // the value parsed as one the harness wrote
}

// PartitionLog is one replica of one partition as read from its data
// dir: every record from Start (the log start offset) up to End (the log
// end offset), in offset order.
type PartitionLog struct {
	Start, End int64
	Records    []LogRecord
}

// Replica is what one broker's data dir holds of the topics read.
type Replica struct {
	Node int
	// Name is how the checker's messages name this reading ("node
	// <Node>" when empty): two readings of one node (online and from
	// its data dir) are told apart by it.
	Name string
	Dir  string
	Logs map[TopicPartition]*PartitionLog
	// Problems are what log.VerifyPartition found damaged (a torn tail
	// after a kill -9 that the next open would truncate is one); records
	// of damaged batches are not in Logs.
	Problems []string
}

func (r *Replica) name() string {
	if r.Name != "" {
		return r.Name
	}
	return fmt.Sprintf("node %d", r.Node)
}

// ReadReplica reads the partitions of topics from the data dir of a
// stopped (or killed) broker without opening it as a broker would:
// log.VerifyPartition takes no lock, opens nothing for writing and
// repairs nothing, so the dir is left exactly as the broker left it and
// the broker may be restarted on it afterwards. Partition directories are
// found by name (<topic>-<partition>), so a replica whose topic metadata
// lives elsewhere (a cluster's, in etcd) is read as well.
func ReadReplica(node int, dataDir string, topics ...string) (Replica, error) {
	r := Replica{Node: node, Dir: dataDir, Logs: map[TopicPartition]*PartitionLog{}}
	// The topics' index.interval.bytes, when the data dir's own metadata
	// names it, so that index checks do not report a wrong interval.
	interval := map[string]int{}
	if dd, err := tlog.ListPartitions(dataDir); err == nil {
		for _, pd := range dd.Partitions {
			interval[pd.Dir] = pd.Config.IndexIntervalBytes
		}
	}
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return r, fmt.Errorf("clustertest: read data dir of node %d: %w", node, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		tp, ok := partitionDirName(e.Name(), topics)
		if !ok {
			continue
		}
		dir := filepath.Join(dataDir, e.Name())
		pl, problems, err := readPartition(dir, interval[dir])
		if err != nil {
			return r, fmt.Errorf("clustertest: node %d: %w", node, err)
		}
		r.Logs[tp] = pl
		r.Problems = append(r.Problems, problems...)
	}
	return r, nil
}

// partitionDirName parses a partition directory's name for one of topics.
func partitionDirName(name string, topics []string) (TopicPartition, bool) {
	for _, t := range topics {
		rest, ok := strings.CutPrefix(name, t+"-")
		if !ok || rest == "" || strings.TrimLeft(rest, "0123456789") != "" {
			continue
		}
		p, err := strconv.ParseInt(rest, 10, 32)
		if err != nil {
			continue
		}
		return TopicPartition{Topic: t, Partition: int32(p)}, true
	}
	return TopicPartition{}, false
}

// readPartition decodes every record of the CRC-valid batches of one
// partition directory, from its log start to its log end offset.
func readPartition(dir string, indexInterval int) (*PartitionLog, []string, error) {
	var recs []LogRecord
	opts := tlog.VerifyOptions{
		IndexIntervalBytes: indexInterval,
		Batch: func(_ string, h *recordbatch.Header, _ int64, batch []byte, problem error) error {
			if problem != nil || h.Control() {
				return nil // damage is in the report; control records are no data
			}
			return recordbatch.Records(batch, recordbatch.DefaultDecompressLimit, func(rec recordbatch.Record) error {
				id, ok := ParseValue(rec.Value)
				recs = append(recs, LogRecord{Offset: rec.Offset, ID: id, OK: ok})
				return nil
			})
		},
	}
	rep, err := tlog.VerifyPartition(dir, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("verify %s: %w", dir, err)
	}
	var problems []string
	for _, p := range rep.Problems {
		problems = append(problems, p.Error())
	}
	// The first segment may hold records below the log start offset
	// (DeleteRecords moves it mid-segment), and damage may leave valid
	// batches past the end Open would keep: neither is in the log.
	kept := recs[:0]
	for _, rc := range recs {
		if rc.Offset >= rep.LogStartOffset && rc.Offset < rep.LogEndOffset {
			kept = append(kept, rc)
		}
	}
	return &PartitionLog{Start: rep.LogStartOffset, End: rep.LogEndOffset, Records: kept}, problems, nil
}
