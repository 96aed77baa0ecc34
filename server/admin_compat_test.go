package server

// Sarama's ClusterAdmin against the admin APIs, at an old and a recent
// protocol version, so that requests built by another client library (and
// its older request versions) are understood.

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
)

func TestAdminSaramaClusterAdmin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version sarama.KafkaVersion
	}{
		{"1.0.0", sarama.V1_0_0_0},
		{"2.8.0", sarama.V2_8_0_0},
		{"3.6.0", sarama.V3_6_0_0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, noAutoCreate)
			cfg := sarama.NewConfig()
			cfg.Version = tc.version
			adm, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()

			retention := "3600000"
			err = adm.CreateTopic("s", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			err = adm.CreateTopic("s3", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
			if !errors.Is(err, sarama.ErrInvalidReplicationFactor) {
				t.Fatalf("create with rf 3: %v", err)
			}

			// ListTopics describes every topic's configs too.
			topics, err := adm.ListTopics()
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if d := topics["s"]; d.NumPartitions != 2 || d.ConfigEntries["retention.ms"] == nil || *d.ConfigEntries["retention.ms"] != retention {
				t.Fatalf("listed %+v", d)
			}

			//lint:ignore SA1019 sarama users call DescribeConfig; the compatibility test drives what they call
			entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "s"})
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			found := false
			for _, e := range entries {
				if e.Name == "retention.ms" {
					found = e.Value == retention && !e.Default
				}
			}
			if !found {
				t.Fatalf("retention.ms not described as overridden: %+v", entries)
			}
			//lint:ignore SA1019 sarama users call DescribeConfig; the compatibility test drives what they call
			if _, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "0"}); err != nil {
				t.Fatalf("describe broker: %v", err)
			}

			if tc.version.IsAtLeast(sarama.V2_3_0_0) {
				week := "604800000"
				err = adm.IncrementalAlterConfig(sarama.TopicResource, "s", map[string]sarama.IncrementalAlterConfigsEntry{
					"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &week},
				}, false)
				if err != nil {
					t.Fatalf("incremental alter: %v", err)
				}
				if topic, _ := b.mgr.Topic("s"); topic.Overrides["retention.ms"] != week {
					t.Fatalf("overrides after alter: %v", topic.Overrides)
				}
			}

			if err := adm.CreatePartitions("s", 4, nil, false); err != nil {
				t.Fatalf("create partitions: %v", err)
			}
			if err := adm.CreatePartitions("s", 4, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
				t.Fatalf("create partitions again: %v", err)
			}

			produceN(t, b.client(), "s", 20)
			if err := adm.DeleteRecords("s", map[int32]int64{0: 0}); err != nil {
				t.Fatalf("delete records: %v", err)
			}

			dirs, err := adm.DescribeLogDirs([]int32{0})
			if err != nil {
				t.Fatalf("describe log dirs: %v", err)
			}
			if len(dirs[0]) != 1 || dirs[0][0].Path == "" || len(dirs[0][0].Topics) != 1 {
				t.Fatalf("log dirs: %+v", dirs)
			}

			brokers, controller, err := adm.DescribeCluster()
			if err != nil || len(brokers) != 1 || controller != 0 {
				t.Fatalf("describe cluster: %v brokers, controller %d, %v", len(brokers), controller, err)
			}

			if err := adm.DeleteTopic("s"); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, ok := b.mgr.Topic("s"); ok {
				t.Fatal("s still exists")
			}
		})
	}
}
