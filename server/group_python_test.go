package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestGroupConfluentKafka: two librdkafka consumers (confluent-kafka-python)
// in one group, with the eager range assignor and with KIP-429's
// incremental cooperative-sticky one, share a 4-partition topic: each is
// assigned partitions, together they read every record, and their
// synchronous commits are the end offsets.
func TestGroupConfluentKafka(t *testing.T) {
	requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	for _, strategy := range []string{"range", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) {
			// Both consumers join the first generation together.
			b := startGroupBroker(t, func(c *Config) { c.Groups.InitialRebalanceDelay = 500 * time.Millisecond })
			ctx := testContext(t)
			adm := b.admin()
			topic, group := "py-"+strategy, "py-group-"+strategy
			createGroupTopic(t, ctx, adm, topic, 4)
			const records = 400
			produceKeyed(t, ctx, b.client(), topic, 0, records)
			end := groupEndOffsets(t, ctx, adm, topic)

			cctx, cancel := context.WithTimeout(ctx, pythonTimeout)
			defer cancel()
			cmd := exec.CommandContext(cctx, systemPython, "-I", "testdata/python/confluent_group.py",
				b.addr, group, topic, strconv.Itoa(records), strategy, strconv.Itoa(int(pythonDeadline/time.Second)))
			cmd.WaitDelay = time.Second
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("confluent_group.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr.String())
			}
			seen := map[partitionOffset]int{}
			assigned := map[int]bool{}
			done := false
			sc := bufio.NewScanner(bytes.NewReader(stdout))
			for sc.Scan() {
				var line struct {
					C        *int  `json:"c"`
					P        int32 `json:"p"`
					O        int64 `json:"o"`
					Assigned []int `json:"assigned"`
					Done     bool  `json:"done"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("bad line %q: %v", sc.Text(), err)
				}
				switch {
				case line.Done:
					done = true
				case line.Assigned != nil:
					if len(line.Assigned) > 0 {
						assigned[*line.C] = true
					}
				case line.C != nil:
					seen[partitionOffset{line.P, line.O}]++
				}
			}
			if !done {
				t.Fatalf("the script did not finish:\n%s", stdout)
			}
			if n, first := missingRecords(end, seen); n > 0 {
				t.Fatalf("%d records never consumed, first %v", n, first)
			}
			if !assigned[0] || !assigned[1] {
				t.Errorf("both consumers should own partitions at some point: %v", assigned)
			}
			got := committedOffsets(t, ctx, adm, group, topic)
			if fmt.Sprint(got) != fmt.Sprint(end) {
				t.Fatalf("committed %v, want the end offsets %v", got, end)
			}
		})
	}
}
