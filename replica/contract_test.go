package replica

// TODO(issue 14 merge): enable once package log has the contract's
// methods (HighWatermark, SetReplicated, SetHighWatermark, LeaderEpoch,
// BecomeLeader, EndOffsetForEpoch, AppendAsFollower), so that the real
// *log.Log is checked to satisfy Log at compile time:
//
//	var _ Log = (*log.Log)(nil)
