package server

// DescribeLogDirs, versions 0-5.
//
//	v1   no wire change (throttle applied after the response, KIP-219)
//	v2   flexible
//	v3   top-level error code (KIP-784)
//	v4   total and usable bytes of each log dir's file system (KIP-827)
//	v5   IsCordoned per log dir (KIP-1066), never set here
//
// The broker has one log dir, the data dir (as an absolute path). Every
// partition is current (never a future replica moving between dirs) and
// has no lag behind itself. A null topic list asks for every partition;
// requested topics and partitions the broker does not have are left out,
// as Kafka does. Disk space comes from statfs where the platform has it
// (statfs_*.go) and is -1 elsewhere.

import (
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

func init() { register(35, 0, 5, handleDescribeLogDirs) }

func handleDescribeLogDirs(c *conn, h *reqHeader, req *kmsg.DescribeLogDirsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !c.authorizeCluster(h.key, auth.OpDescribe) {
		// As Kafka: no dirs, and from v3 the error says why.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	d := kmsg.NewDescribeLogDirsResponseDir() // total and usable bytes -1: unknown
	d.Dir = s.mgr.Dir()
	if abs, err := filepath.Abs(d.Dir); err == nil {
		d.Dir = abs
	}
	if req.Version >= 4 {
		if total, usable, err := diskSpace(d.Dir); err == nil {
			d.TotalBytes, d.UsableBytes = total, usable
		} else {
			s.logger.Debug("server: statfs of the data dir failed", "dir", d.Dir, "err", err)
		}
	}
	if req.Topics == nil {
		for _, t := range s.mgr.Topics() {
			// A cluster broker knows topics it hosts no replica of.
			if dt := logDirTopic(t, nil); len(dt.Partitions) > 0 {
				d.Topics = append(d.Topics, dt)
			}
		}
	} else {
		// Merge repeated topics, keeping the order topics were first asked.
		var order []string
		asked := make(map[string][]int32, len(req.Topics))
		for _, rt := range req.Topics {
			if _, ok := asked[rt.Topic]; !ok {
				order = append(order, rt.Topic)
			}
			asked[rt.Topic] = append(asked[rt.Topic], rt.Partitions...)
		}
		for _, name := range order {
			t, ok := s.topic(name)
			if !ok {
				continue
			}
			if dt := logDirTopic(t, asked[name]); len(dt.Partitions) > 0 {
				d.Topics = append(d.Topics, dt)
			}
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{d}
	return resp, nil
}

// logDirTopic describes the given partitions of t (all when nil), skipping
// ones it does not have and repeats.
func logDirTopic(t *tlog.Topic, partitions []int32) kmsg.DescribeLogDirsResponseDirTopic {
	dt := kmsg.NewDescribeLogDirsResponseDirTopic()
	dt.Topic = t.Name
	add := func(p int32, l *tlog.Log) {
		sp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		sp.Partition = p
		sp.Size = l.Size()
		dt.Partitions = append(dt.Partitions, sp)
	}
	if partitions == nil {
		for i, l := range t.Partitions {
			if l != nil { // a replica this broker hosts
				add(int32(i), l)
			}
		}
		return dt
	}
	seen := make(map[int32]bool, len(partitions))
	for _, p := range partitions {
		if l := partitionLog(t, p); l != nil && !seen[p] {
			seen[p] = true
			add(p, l)
		}
	}
	return dt
}
