package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/tributary-io/tributary/bench"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() { rootCmd.AddCommand(newProduceCmd()) }

// produceOptions are the flags of `tributary produce`.
type produceOptions struct {
	topic        string
	file         string
	keySeparator string
	headers      []string
	partition    int32
	compression  string
	acks         string
}

func newProduceCmd() *cobra.Command {
	o := &produceOptions{}
	cmd := &cobra.Command{
		Use:   "produce --topic TOPIC [flags]",
		Short: "Produce one record per line of stdin or a file",
		Long: `Produce one record per line of stdin (or --file). With --key-separator each
line is split at the first separator into key and value, as kcat -K does; a
line without it has no key. A summary (records, bytes, errors) goes to
stderr, and the exit status is 1 if any record failed.`,
		Example: `  echo hello | tributary produce --topic events
  printf 'user1:login\nuser2:logout\n' | tributary produce -t events -K : --header source=cli
  tributary produce -t events --file records.txt --compression zstd --acks 1 --partition 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.topic, "topic", "t", "", "topic to produce to (required)")
	f.StringVar(&o.file, "file", "", "read lines from this file instead of stdin")
	f.StringVarP(&o.keySeparator, "key-separator", "K", "", "split each line at the first occurrence into key and value")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "header name=value on every record (repeatable)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "produce to this partition (-1: the default partitioner, by key)")
	f.StringVarP(&o.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVar(&o.acks, "acks", "all", "acknowledgement: 0 (none), 1 (leader) or all")
	cmd.MarkFlagRequired("topic")
	return cmd
}

// acksOpts maps --acks to franz-go's options; acks other than all need the
// idempotent producer off, as in Kafka's producer.
func acksOpts(acks string) ([]kgo.Opt, error) {
	switch acks {
	case "all", "-1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, nil
	case "1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, nil
	case "0":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, nil
	}
	return nil, usageError{fmt.Errorf("--acks %q: want 0, 1 or all", acks)}
}

// produceStats counts the outcome of the records, from the produce
// callbacks.
type produceStats struct {
	mu       sync.Mutex
	records  int64 // acknowledged
	bytes    int64 // key and value bytes acknowledged
	errors   int64
	unsent   int64 // still buffered when an interrupt closed the client
	firstErr error
}

// produceInterruptGrace is how long produce waits, after Ctrl-C, for the
// records already sent to be acknowledged before it gives up on them.
const produceInterruptGrace = 2 * time.Second

func (s *produceStats) done(r *kgo.Record, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		s.unsent++ // failed by the interrupt, not by the broker
		return
	}
	if err != nil {
		s.errors++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.records++
	s.bytes += int64(len(r.Key) + len(r.Value))
}

func (o *produceOptions) run(cmd *cobra.Command) error {
	codec, err := bench.CompressionCodec(o.compression)
	if err != nil {
		return usageError{fmt.Errorf("produce: --compression: %w", err)}
	}
	opts, err := acksOpts(o.acks)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	var headers []kgo.RecordHeader
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			return usageError{fmt.Errorf("produce: --header %q: want name=value", h)}
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	in := cmd.InOrStdin()
	if o.file != "" {
		f, err := os.Open(o.file)
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		defer f.Close()
		in = f
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(o.topic),
		kgo.ProducerBatchCompression(codec),
		// As Kafka's console producer: the broker's auto.create.topics.enable decides.
		kgo.AllowAutoTopicCreation(),
		// A topic the broker neither has nor creates fails in about a second,
		// not after kgo's default four 5 s metadata rounds.
		kgo.UnknownTopicRetries(2),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := newClient(cmd, opts...)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	var closeOnce sync.Once
	closeClient := func() { closeOnce.Do(cl.Close) }
	defer closeClient()

	// Ctrl-C (or SIGTERM) stops reading, gives what is in flight a moment
	// to be acknowledged and still prints the summary.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stats := &produceStats{}
	var sep []byte
	if o.keySeparator != "" {
		sep = []byte(o.keySeparator)
	}
	// The reader runs on its own so that a signal ends the command even
	// while it waits on a terminal or a pipe that never closes; it stops at
	// the end of its input or at the first line after the signal.
	readDone := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(in, 64<<10)
		for ctx.Err() == nil {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && ctx.Err() == nil {
				line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
				r := &kgo.Record{Value: line, Headers: headers, Partition: o.partition}
				if sep != nil {
					if k, v, ok := bytes.Cut(line, sep); ok {
						r.Key, r.Value = k, v
					}
				}
				cl.Produce(ctx, r, stats.done)
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readDone <- err
				return
			}
		}
		readDone <- nil
	}()
	var readErr error
	interrupted := false
	select {
	case readErr = <-readDone:
		if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("produce: flush: %w", err)
		}
		interrupted = ctx.Err() != nil
	case <-ctx.Done():
		interrupted = true
	}
	if interrupted {
		fctx, cancel := context.WithTimeout(context.Background(), produceInterruptGrace)
		cl.Flush(fctx)
		cancel()
		closeClient() // fails what is still buffered, so the counts are final
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	summary := fmt.Sprintf("produce: %d records, %d bytes to %s, %d errors", stats.records, stats.bytes, o.topic, stats.errors)
	if interrupted {
		summary = fmt.Sprintf("produce: interrupted: %d records, %d bytes to %s, %d errors, %d not sent", stats.records, stats.bytes, o.topic, stats.errors, stats.unsent)
	}
	fmt.Fprintln(cmd.ErrOrStderr(), summary)
	switch {
	case interrupted:
		return errInterrupted
	case readErr != nil:
		return fmt.Errorf("produce: read: %w", readErr)
	case stats.errors > 0:
		return fmt.Errorf("produce: %d of %d records failed: %w", stats.errors, stats.errors+stats.records, stats.firstErr)
	}
	return nil
}
