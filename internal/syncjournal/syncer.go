package syncjournal

// Syncer is what Sync flushes: an *os.File, or a wrapper of one that tests
// use to inject faults (only an *os.File is journaled).
type Syncer interface {
	Sync() error
}
