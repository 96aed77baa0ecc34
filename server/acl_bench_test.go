package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkProduceAuthorized: 1 KiB Produce requests on one connection,
// as BenchmarkProduce, without an authorizer (the baseline, today's path)
// and with one holding 1,000 ACLs of other principals besides the one
// that allows the write.
func BenchmarkProduceAuthorized(b *testing.B) {
	const size = 1 << 10
	batch := recordbatch.BuildSized(size, time.Now().UnixMilli())
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(11, "bench", batch), 1)
	for _, authz := range []string{"none", "acls"} {
		b.Run(fmt.Sprintf("batch=1KiB/authorizer=%s", authz), func(b *testing.B) {
			var opts []brokerOpt
			if authz == "acls" {
				opts = append(opts, withAuthorizer())
			}
			br := startBroker(b, opts...)
			if authz == "acls" {
				bs := []auth.Binding{binding(auth.ResourceTopic, auth.PatternLiteral, "bench", auth.Anonymous.String(), auth.OpWrite, auth.PermissionAllow)}
				for i := range 1000 {
					bs = append(bs, binding(auth.ResourceTopic, auth.PatternPrefixed, fmt.Sprintf("tenant-%d-", i), fmt.Sprintf("User:u%d", i), auth.OpAll, auth.PermissionAllow))
				}
				for _, err := range br.srv.authz.Create(bs) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			if _, err := br.mgr.CreateTopic("bench", 1, nil); err != nil {
				b.Fatal(err)
			}
			c := br.raw()
			c.nc.SetDeadline(time.Now().Add(10 * time.Minute))
			buf := make([]byte, 4096)
			if code := c.do(produceReq(11, "bench", batch)).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
				b.Fatalf("produce: error %d", code)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.exchange(frame, buf)
			}
		})
	}
}
