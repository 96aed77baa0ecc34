package log_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// encodeBatch encodes records with keys at offsets (gaps allowed).
func encodeBatch(t *testing.T, o recordbatch.BatchOptions, offsets ...int64) []byte {
	t.Helper()
	var recs []recordbatch.Record
	for _, off := range offsets {
		recs = append(recs, recordbatch.Record{Offset: off, Timestamp: tsBase + off, Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 200)})
	}
	b, err := recordbatch.Encode(nil, o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestValidateBatchesPerWriter pins what each writer's batches must pass
// and the sentinel each failure wraps (the server answers CORRUPT_MESSAGE,
// INVALID_RECORD, MESSAGE_TOO_LARGE or INVALID_TXN_STATE from it).
func TestValidateBatchesPerWriter(t *testing.T) {
	plain := func() []byte { return recordbatch.Build(3, 10, tsBase) }
	damaged := func() []byte {
		b := plain()
		b[len(b)-1] ^= 0xff
		return b
	}
	lying := func() []byte { // CRC holds, header claims 4 records for 3
		b := plain()
		binary.BigEndian.PutUint32(b[recordbatch.RecordCountPos:], 4)
		binary.BigEndian.PutUint32(b[recordbatch.LastOffsetDeltaPos:], 3)
		recordbatch.SetCRC(b)
		return b
	}
	control := func() []byte { return encodeBatch(t, recordbatch.BatchOptions{Control: true, Transactional: true}, 0) }
	txn := func() []byte {
		return encodeBatch(t, recordbatch.BatchOptions{Transactional: true, Idempotent: true, ProducerID: 7}, 0, 1)
	}
	// gaps is a batch as the cleaner leaves it.
	gaps := func() []byte { return encodeBatch(t, recordbatch.BatchOptions{}, 0, 2, 5) }
	// garbledGaps: the CRC holds, the first record's length does not.
	garbledGaps := func() []byte {
		b := gaps()
		b[recordbatch.HeaderSize] = 0x7e
		recordbatch.SetCRC(b)
		return b
	}
	gzipGaps := func() []byte { return encodeBatch(t, recordbatch.BatchOptions{Codec: recordbatch.CodecGzip}, 0, 2, 5) }
	zstd := func() []byte {
		return encodeBatch(t, recordbatch.BatchOptions{Codec: recordbatch.CodecZstd}, 0, 1, 2, 3)
	}
	nullKey := func() []byte {
		b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, []recordbatch.Record{{Offset: 0, Timestamp: tsBase, Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	badSeq := func() []byte {
		return encodeBatch(t, recordbatch.BatchOptions{Idempotent: true, ProducerID: 7, BaseSequence: -5}, 0)
	}
	big := func() []byte { return recordbatch.BuildSized(2048, tsBase) }
	two := func() []byte { return append(plain(), plain()...) }

	type want struct {
		err     error // nil: valid
		records int64
	}
	cases := []struct {
		name      string
		batch     func() []byte
		compacted bool
		limit     int
		producer  want
		broker    want
		leader    want
	}{
		{name: "plain", batch: plain, producer: want{nil, 3}, broker: want{nil, 3}, leader: want{nil, 3}},
		{name: "zstd", batch: zstd, producer: want{nil, 4}, broker: want{nil, 4}, leader: want{nil, 4}},
		{name: "header cut short", batch: func() []byte { return plain()[:recordbatch.HeaderSize-1] },
			producer: want{err: log.ErrCorruptBatch}, broker: want{err: log.ErrCorruptBatch}, leader: want{err: log.ErrCorruptBatch}},
		{name: "damaged", batch: damaged,
			producer: want{err: log.ErrCorruptBatch}, broker: want{err: log.ErrCorruptBatch}, leader: want{err: log.ErrCorruptBatch}},
		{name: "records disagree with header", batch: lying,
			producer: want{err: log.ErrInvalidRecord}, broker: want{nil, 4}, leader: want{nil, 4}},
		{name: "two batches", batch: two, producer: want{err: log.ErrInvalidRecord}, broker: want{nil, 6}, leader: want{nil, 6}},
		{name: "control", batch: control, producer: want{err: log.ErrInvalidRecord}, broker: want{nil, 1}, leader: want{nil, 1}},
		{name: "transactional", batch: txn, producer: want{err: log.ErrTransactional}, broker: want{nil, 2}, leader: want{nil, 2}},
		{name: "cleaned, offset gaps", batch: gaps, producer: want{err: log.ErrInvalidRecord}, broker: want{nil, 6}, leader: want{nil, 6}},
		{name: "cleaned, records garbled", batch: garbledGaps, producer: want{err: log.ErrInvalidRecord}, broker: want{nil, 6}, leader: want{nil, 6}},
		{name: "cleaned gzip, offset gaps", batch: gzipGaps, producer: want{err: log.ErrInvalidRecord}, broker: want{nil, 6}, leader: want{nil, 6}},
		{name: "decompresses past the limit", batch: zstd, limit: 100,
			producer: want{err: log.ErrMessageTooLarge}, broker: want{nil, 4}, leader: want{nil, 4}},
		{name: "over max.message.bytes", batch: big,
			producer: want{err: log.ErrMessageTooLarge}, broker: want{err: log.ErrMessageTooLarge}, leader: want{nil, 1}},
		{name: "null key, compacted", batch: nullKey, compacted: true,
			producer: want{err: log.ErrMissingKey}, broker: want{err: log.ErrMissingKey}, leader: want{nil, 1}},
		{name: "null key, not compacted", batch: nullKey, producer: want{nil, 1}, broker: want{nil, 1}, leader: want{nil, 1}},
		{name: "negative base sequence", batch: badSeq,
			producer: want{err: log.ErrCorruptBatch}, broker: want{err: log.ErrCorruptBatch}, leader: want{err: log.ErrCorruptBatch}},
		{name: "empty", batch: func() []byte { return nil },
			producer: want{err: log.ErrCorruptBatch}, broker: want{err: log.ErrCorruptBatch}, leader: want{err: log.ErrCorruptBatch}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quietConfig()
			cfg.MaxMessageBytes = 1024
			if tc.compacted {
				cfg.CleanupPolicy = "compact"
			}
			l := openLog(t, t.TempDir(), cfg)
			limit := tc.limit
			if limit == 0 {
				limit = recordbatch.DefaultDecompressLimit
			}
			for _, w := range []struct {
				name   string
				writer log.Writer
				want   want
			}{{"producer", log.WriterProducer, tc.producer}, {"broker", log.WriterBroker, tc.broker}, {"leader", log.WriterLeader, tc.leader}} {
				b := tc.batch()
				orig := bytes.Clone(b)
				v, err := l.ValidateBatches(b, w.writer, limit)
				switch {
				case w.want.err == nil && (err != nil || v.Records != w.want.records):
					t.Errorf("%s: %+v, %v; want %d records", w.name, v, err, w.want.records)
				case w.want.err != nil && !errors.Is(err, w.want.err):
					t.Errorf("%s: %v; want %v", w.name, err, w.want.err)
				}
				if !bytes.Equal(b, orig) {
					t.Errorf("%s: ValidateBatches changed the bytes", w.name)
				}
			}
			if l.NextOffset() != 0 {
				t.Fatalf("ValidateBatches appended: next offset %d", l.NextOffset())
			}
		})
	}
}

// TestValidateBatchesReportsProducerIDs: WithPID says whether the append
// touches idempotence state.
func TestValidateBatchesReportsProducerIDs(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	seq := encodeBatch(t, recordbatch.BatchOptions{Idempotent: true, ProducerID: 7}, 0, 1)
	for _, c := range []struct {
		b    []byte
		want bool
	}{{recordbatch.Build(2, 10, tsBase), false}, {seq, true}, {append(recordbatch.Build(2, 10, tsBase), seq...), true}} {
		v, err := l.ValidateBatches(c.b, log.WriterLeader, recordbatch.DefaultDecompressLimit)
		if err != nil || v.WithPID != c.want {
			t.Errorf("WithPID = %v, %v; want %v", v.WithPID, err, c.want)
		}
	}
}
