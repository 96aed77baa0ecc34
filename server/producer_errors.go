package server

// producerErrorCode maps the idempotent-producer errors of package log.
func producerErrorCode(err error) (int16, bool) {
	return 0, false
}
