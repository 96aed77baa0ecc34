package log

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDeleteTopicKeepsTopicWhenMetadataRemovalFails: if the metadata file
// cannot be removed, the topic stays served and stays after a restart,
// instead of vanishing until the next start.
func TestDeleteTopicKeepsTopicWhenMetadataRemovalFails(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenManager(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	tp, err := m.CreateTopic("stuck", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A non-empty directory in place of the metadata file makes the
	// removal fail, as EIO or a read-only file system would.
	meta := m.metaPath(tp)
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	aside := meta + ".aside"
	if err := os.Rename(meta, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(meta, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteTopic("stuck"); err == nil {
		t.Fatal("DeleteTopic succeeded though its metadata could not be removed")
	}
	if _, ok := m.Topic("stuck"); !ok {
		t.Fatal("topic dropped from memory though its metadata is still on disk")
	}
	// Put the file back: the topic is whole and deletes cleanly now.
	if err := os.RemoveAll(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(aside)
	if err := m.DeleteTopic("stuck"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m, err = OpenManager(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Topic("stuck"); ok {
		t.Fatal("deleted topic is back after a restart")
	}
}
