package log

import "time"

// SetSwapHook makes l call f at each step of a cleaner swap ("commit",
// "delete old", "rename", "open"); an error from f stops the swap there,
// leaving the files as a crash at that point would.
func SetSwapHook(l *Log, f func(step string) error) { l.swapHook = f }

// SetRepairHook makes recovery call f at each step of writing a repaired
// segment ("written", "replace"); an error from f stops the repair there,
// leaving the files as a crash at that point would. nil removes it.
func SetRepairHook(f func(step string) error) { repairHook = f }

// UnflushedSince is l.unflushedSince, for the flush.ms clock test.
func UnflushedSince(l *Log) (time.Time, bool) { return l.unflushedSince() }
