package wire

import "net"

// Buffers appends to bufs the pieces of dst interleaved with the splices'
// data, in wire order, ready for (net.Buffers).WriteTo, which is a single
// writev(2) on a TCP connection (several if there are more than the kernel's
// IOV_MAX pieces). Nothing is copied and empty pieces are left out. The dst
// pieces are capped at their length so that appending to one cannot
// overwrite the next.
//
// splices must be those made for dst, in the order they were made; Buffers
// panics on a splice before the previous one or outside dst, since writing
// such a response would corrupt the stream. WriteTo consumes the
// net.Buffers it is called on, so to reuse bufs' backing array across
// responses, call WriteTo on a copy of the slice header.
func Buffers(dst []byte, splices []Splice, bufs net.Buffers) net.Buffers {
	prev := 0
	for _, s := range splices {
		if s.At < prev || s.At > len(dst) {
			panic("wire: splice outside dst or out of order")
		}
		if s.At > prev {
			bufs = append(bufs, dst[prev:s.At:s.At])
			prev = s.At
		}
		if len(s.Data) > 0 {
			bufs = append(bufs, s.Data)
		}
	}
	if prev < len(dst) {
		bufs = append(bufs, dst[prev:len(dst):len(dst)])
	}
	return bufs
}

// Size is the number of bytes dst and its splices put on the wire.
func Size(dst []byte, splices []Splice) int {
	n := len(dst)
	for _, s := range splices {
		n += len(s.Data)
	}
	return n
}
