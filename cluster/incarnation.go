package cluster

// WrittenBefore reports whether p was last written before the broker
// registration of broker epoch brokerEpoch: a broker epoch is the etcd
// revision of the registration's write and p.Version that of p's last
// write, so whatever p says of that broker (a place in the ISR, the
// leadership) is its previous incarnation's, which may have held records
// the broker lost since (an unflushed tail, in a power loss). The
// controller takes such a broker out of p's ISR and leadership, or, when
// it is the last ISR member, elects it again under a new leader epoch;
// until then the broker neither leads p nor counts in its ISR (KIP-966's
// rule for a broker that comes back from an unclean shutdown). A
// partition not stored yet (Version 0) was written by nobody.
func (p PartitionState) WrittenBefore(brokerEpoch int64) bool {
	return p.Version > 0 && brokerEpoch > p.Version
}
