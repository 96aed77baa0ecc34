package replica

import "container/heap"

// waiter is one acks=all produce waiting for the high watermark to pass
// its last offset. Its channel has room for the one result it gets, so
// completing it never blocks the leader.
type waiter struct {
	offset int64      // last offset of the produced batch
	ch     chan error // buffered 1: nil when committed, else why not
	index  int        // position in the heap, -1 once removed
}

// waitHeap orders waiters by offset, lowest first, so a high watermark
// advance completes a prefix of it. It implements heap.Interface.
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].offset < h[j].offset }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// completeBelow completes with nil every waiter whose offset is below hw.
func (h *waitHeap) completeBelow(hw int64) {
	for h.Len() > 0 && (*h)[0].offset < hw {
		w := heap.Pop(h).(*waiter)
		w.ch <- nil
	}
}

// failAll completes every waiter with err.
func (h *waitHeap) failAll(err error) {
	for h.Len() > 0 {
		w := heap.Pop(h).(*waiter)
		w.ch <- err
	}
}

// remove takes w out if it is still waiting.
func (h *waitHeap) remove(w *waiter) {
	if w.index >= 0 && w.index < h.Len() && (*h)[w.index] == w {
		heap.Remove(h, w.index)
	}
}
