package recordbatch

import "sync"

// PoolsKeepItems reports whether sync.Pool hands back what was just put in
// it. Under the race detector it drops items at random on purpose, so tests
// that count allocations of pooled code skip their bounds when this is
// false. It lives in a _test file of the package so the external tests see
// it too.
func PoolsKeepItems() bool {
	var p sync.Pool
	x := new(int)
	for range 100 {
		p.Put(x)
		if p.Get() != x {
			return false
		}
	}
	return true
}
