package log

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

// meta/topics/<topic id>.json: one JSON object per topic.
//
//	{"version": 2, "name": "events", "id": "<32 hex digits>",
//	 "partitions": 6, "hosted": [0, 3, 4], "configs": {"retention.ms": "1000"}}
//
// "hosted" (version 2) lists, ascending, the partitions this data dir
// holds a log of; absent at version 2 means none. A broker of a cluster
// hosts only the partitions it is a replica of; a single broker hosts
// every partition of every topic.
const (
	// topicMetaVer is the version of a topic's metadata file. Reader
	// rule: read N and N-1. Version 2 added "hosted"; a version 1 file
	// (no "hosted") means every partition is hosted.
	topicMetaVer = 2
	// topicMetaVerDense is the version written for a topic hosting every
	// partition: its file then means the same at either version, and a
	// single broker's data dir stays exactly what it was (readable by the
	// release before this one).
	topicMetaVerDense = 1
)

type topicMeta struct {
	Version    int               `json:"version"`
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int               `json:"partitions"`
	Hosted     []int32           `json:"hosted,omitempty"` // version 2; see hostedPartitions
	Configs    map[string]string `json:"configs,omitempty"`
}

// sparse reports whether the file lists its hosted partitions (version
// 2), which may be fewer than the topic's.
func (tm *topicMeta) sparse() bool { return tm.Version == topicMetaVer }

// hostedPartitions is the partitions with a local log, ascending: every
// one at version 1, the listed ones at version 2.
func (tm *topicMeta) hostedPartitions() []int32 {
	if !tm.sparse() {
		return allPartitions(tm.Partitions)
	}
	return tm.Hosted
}

func allPartitions(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// readTopicMeta reads and checks one topic's metadata file: the version,
// the partition count, the topic ID and the hosted partitions (in range,
// ascending, no repeats).
func readTopicMeta(path string) (topicMeta, error) {
	var tm topicMeta
	b, err := os.ReadFile(path)
	if err != nil {
		return tm, fmt.Errorf("log: read topic metadata %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &tm); err != nil {
		return tm, fmt.Errorf("log: topic metadata %s: %w", path, err)
	}
	if tm.Version != topicMetaVer && tm.Version != topicMetaVer-1 {
		return tm, fmt.Errorf("log: topic metadata %s: unsupported version %d", path, tm.Version)
	}
	if tm.Partitions < 0 || tm.Partitions > MaxPartitions {
		return tm, fmt.Errorf("log: topic metadata %s: %d partitions", path, tm.Partitions)
	}
	if id, err := hex.DecodeString(tm.ID); err != nil || len(id) != 16 {
		return tm, fmt.Errorf("log: topic metadata %s: bad topic id %q", path, tm.ID)
	}
	if !tm.sparse() && tm.Hosted != nil {
		return tm, fmt.Errorf("log: topic metadata %s: hosted partitions in a version %d file", path, tm.Version)
	}
	for i, p := range tm.Hosted {
		if p < 0 || int(p) >= tm.Partitions || i > 0 && p <= tm.Hosted[i-1] {
			return tm, fmt.Errorf("log: topic metadata %s: hosted partitions %v of %d not ascending in range", path, tm.Hosted, tm.Partitions)
		}
	}
	return tm, nil
}

// hostedOf lists the partitions of t that have a log, or nil when all do.
func hostedOf(t *Topic) []int32 {
	hosted := make([]int32, 0, len(t.Partitions))
	for p, l := range t.Partitions {
		if l != nil {
			hosted = append(hosted, int32(p))
		}
	}
	if len(hosted) == len(t.Partitions) {
		return nil
	}
	return hosted
}

// writeMeta replaces t's metadata file atomically, with partitions
// partitions of which hosted have a log (nil: every one; see
// topicMetaVerDense for the version written).
func (m *Manager) writeMeta(t *Topic, partitions int, hosted []int32) error {
	tm := topicMeta{Version: topicMetaVerDense, Name: t.Name, ID: t.ID.String(),
		Partitions: partitions, Configs: t.Overrides}
	if hosted != nil && len(hosted) < partitions {
		tm.Version, tm.Hosted = topicMetaVer, hosted
	}
	b, err := json.MarshalIndent(tm, "", "  ")
	if err != nil {
		return fmt.Errorf("log: topic metadata %q: %w", t.Name, err)
	}
	return writeFileAtomic(m.metaPath(t), b)
}

// writeTopicMeta is writeMeta of t as it is: its partition count and the
// partitions it has logs of.
func (m *Manager) writeTopicMeta(t *Topic) error {
	return m.writeMeta(t, len(t.Partitions), hostedOf(t))
}
