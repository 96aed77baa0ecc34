package cluster

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func watchResp(rev int64, keys ...string) clientv3.WatchResponse {
	wr := clientv3.WatchResponse{Header: &pb.ResponseHeader{Revision: rev}}
	for _, k := range keys {
		wr.Events = append(wr.Events, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: rev}})
	}
	return wr
}

func eventKeys(evs []*clientv3.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Kv.Key))
	}
	return out
}

func TestWatchResponsesAlreadyQueuedMakeOneSnapshot(t *testing.T) {
	ch := make(chan clientv3.WatchResponse, 4)
	ch <- watchResp(11, "b")
	ch <- watchResp(12) // a progress notification: no events
	ch <- watchResp(13, "c", "d")
	evs, last, err := coalesce(ch, watchResp(10, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := eventKeys(evs); len(got) != 4 || got[0] != "a" || got[1] != "b" || got[2] != "c" || got[3] != "d" {
		t.Fatalf("events %v, want [a b c d] in order", got)
	}
	if last != 13 {
		t.Fatalf("revision %d, want 13 (the last response's)", last)
	}
	if len(ch) != 0 {
		t.Fatalf("%d responses left queued", len(ch))
	}
}

func TestWatchResponseErrorEndsCoalescingAfterTheEventsBeforeIt(t *testing.T) {
	ch := make(chan clientv3.WatchResponse, 4)
	ch <- watchResp(11, "b")
	failed := watchResp(12, "lost")
	failed.CompactRevision = 5
	ch <- failed
	ch <- watchResp(13, "c")
	evs, last, err := coalesce(ch, watchResp(10, "a"))
	if err == nil {
		t.Fatal("a compacted watch response coalesced without error")
	}
	if got := eventKeys(evs); len(got) != 2 || got[0] != "a" || got[1] != "b" || last != 11 {
		t.Fatalf("events %v at revision %d, want [a b] at 11", got, last)
	}

	closed := make(chan clientv3.WatchResponse, 1)
	closed <- watchResp(11, "b")
	close(closed)
	evs, last, err = coalesce(closed, watchResp(10, "a"))
	if err == nil || len(evs) != 2 || last != 11 {
		t.Fatalf("a watch that ended: events %v at %d, err %v; want [a b] at 11 and an error", eventKeys(evs), last, err)
	}
}
