package log_test

import (
	"fmt"
	"os"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Embedded use: open a data dir, create a topic, append Kafka record batches
// and replay them from an offset and from a timestamp, with no server.
func ExampleOpenManager() {
	dir, _ := os.MkdirTemp("", "tributary-example")
	defer os.RemoveAll(dir)

	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	topic, err := m.CreateTopic("events", 3, map[string]string{"retention.ms": "86400000"})
	if err != nil {
		panic(err)
	}
	p0 := topic.Partitions[0]
	for i := 0; i < 3; i++ {
		// Ten records with timestamps 1000+10i .. 1000+10i+9.
		base, err := p0.Append(recordbatch.Build(10, 100, int64(1000+10*i)))
		if err != nil {
			panic(err)
		}
		fmt.Println("appended at", base)
	}

	b, err := p0.Read(15, 1<<20) // the batch holding offset 15, and what follows
	if err != nil {
		panic(err)
	}
	h, _ := recordbatch.Validate(b.Data)
	fmt.Println("read from", b.BaseOffset, "records", h.RecordCount, "bytes", len(b.Data) > 0)
	b.Release()

	off, ts, _ := p0.OffsetForTimestamp(1015)
	fmt.Println("first record with timestamp >= 1015:", off, "at", ts)
	// Output:
	// appended at 0
	// appended at 10
	// appended at 20
	// read from 10 records 10 bytes true
	// first record with timestamp >= 1015: 15 at 1015
}
