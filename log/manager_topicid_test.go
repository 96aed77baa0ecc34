package log_test

import (
	"errors"
	"testing"

	"github.com/tributary-io/tributary/log"
)

// TestCreateTopicWithIDKeepsTheIDAcrossRestarts: a cluster's topic has the
// ID its metadata gave it, on every broker and after a restart.
func TestCreateTopicWithIDKeepsTheIDAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	m, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	id := log.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if _, err := m.CreateTopicWithID("t", log.TopicID{}, 1, nil); !errors.Is(err, log.ErrInvalidTopic) {
		t.Fatalf("zero id: %v, want ErrInvalidTopic", err)
	}
	tp, err := m.CreateTopicWithID("t", id, 3, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if tp.ID != id || len(tp.Partitions) != 3 {
		t.Fatalf("created %v with %d partitions, want id %v and 3", tp.ID, len(tp.Partitions), id)
	}
	if _, err := m.CreateTopicWithID("t", id, 1, nil); !errors.Is(err, log.ErrTopicExists) {
		t.Fatalf("again: %v, want ErrTopicExists", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, ok := m.Topic("t")
	if !ok || got.ID != id || len(got.Partitions) != 3 || got.Overrides["retention.ms"] != "1000" {
		t.Fatalf("after restart: %+v, %v", got, ok)
	}
}
