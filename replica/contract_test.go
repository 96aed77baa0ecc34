package replica

import tlog "github.com/tributary-io/tributary/log"

// The real partition log satisfies the interface the engine drives.
var _ Log = (*tlog.Log)(nil)
