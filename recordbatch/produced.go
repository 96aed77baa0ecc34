package recordbatch

// CheckProduced checks what Kafka's broker checks of a producer's batch
// beyond the header and CRC, so that a batch whose header lies about its
// records cannot leave gaps or overlaps in the partition's offsets: a
// positive recordCount equal to lastOffsetDelta+1 and, for an uncompressed
// batch, exactly that many well-formed records with offset deltas 0, 1, 2, ...
// and nothing after them. Compressed batches are checked by header only:
// the produce path never decompresses. It does not allocate.
func CheckProduced(batch []byte) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.RecordCount <= 0 || int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
		return corrupt(0, "recordCount %d does not match lastOffsetDelta %d", h.RecordCount, h.LastOffsetDelta)
	}
	if h.Codec() != CodecNone {
		return nil
	}
	rd := recordReader{recs: batch[HeaderSize:h.Size()], left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
	var r rawRecord
	for want := int32(0); rd.left > 0; want++ {
		if err := rd.next(&r); err != nil {
			return err
		}
		if r.offsetDelta != want {
			return corrupt(0, "record %d has offsetDelta %d", want, r.offsetDelta)
		}
	}
	return rd.finish()
}
