package log

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCleanerCheckpointFile: what Open makes of the file in each state.
func TestCleanerCheckpointFile(t *testing.T) {
	good := encodeCleanerCheckpoint(12345)
	badCRC := append([]byte(nil), good...)
	badCRC[10] ^= 1
	newer := append([]byte(nil), good...)
	newer[5] = byte(cleanerCkptFormat.Version + 1)
	tests := []struct {
		name          string
		data          []byte // nil: no file
		off           int64
		present, isOK bool
	}{
		{"absent", nil, 0, false, false},
		{"valid", good, 12345, true, true},
		{"bad crc", badCRC, 0, true, false},
		{"unknown version", newer, 0, true, false},
		{"short", good[:10], 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.data != nil {
				if err := os.WriteFile(filepath.Join(dir, CleanerCheckpointFile), tt.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			off, present, ok, err := readCleanerCheckpoint(dir)
			if err != nil || off != tt.off || present != tt.present || ok != tt.isOK {
				t.Fatalf("read = %d %v %v %v; want %d %v %v", off, present, ok, err, tt.off, tt.present, tt.isOK)
			}
		})
	}
}
