package bench_test

import "testing"

// BenchmarkProduceCodecs is BenchmarkE2E's produce-1KiB workload with each
// codec the producer may pick, on Tributary only: the broker CPU per GB of
// record values that reading every compressed batch on produce costs.
// To compare two brokers (before and after a change), build this test
// binary from each tree and run them alternately:
//
//	go test -c -o /tmp/new.test ./bench   # and likewise /tmp/old.test
//	/tmp/new.test -test.run '^$' -test.bench ProduceCodecs -test.benchtime 1x
//
// Values are the load engine's pseudo-random bytes, which no codec shrinks,
// so the codecs mostly store them and decompressing them is little more
// than a copy: this measures what the produce check adds around a decoder,
// not a decoder's work on compressible records, which
// BenchmarkValidateProducedCompressed in recordbatch measures.
func BenchmarkProduceCodecs(b *testing.B) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		w := e2eWorkload{name: "produce-1KiB-" + codec, records: 200_000, recordSize: 1024, compression: codec}
		b.Run("broker="+kindTributary+"/workload="+w.name, func(b *testing.B) { benchE2E(b, kindTributary, w) })
	}
}
