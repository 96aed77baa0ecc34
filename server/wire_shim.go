package server

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type wireSplice struct {
	At   int
	Data []byte
}

func appendFetchBody(b []byte, r *kmsg.FetchResponse, sp []wireSplice) ([]byte, []wireSplice) {
	return r.AppendTo(b), sp
}

func spliceSize(b []byte, sp []wireSplice) int {
	n := len(b)
	for _, s := range sp {
		n += len(s.Data)
	}
	return n
}

func spliceBuffers(b []byte, sp []wireSplice, bufs net.Buffers) net.Buffers {
	return append(bufs, b)
}
