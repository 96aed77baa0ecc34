package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	tlog "github.com/tributary-io/tributary/log"
)

// producerErrorCode maps the idempotent-producer errors of package log.
func producerErrorCode(err error) (int16, bool) {
	switch {
	case errors.Is(err, tlog.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code, true
	case errors.Is(err, tlog.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code, true
	case errors.Is(err, tlog.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code, true
	case errors.Is(err, tlog.ErrProducerIDsExhausted):
		return kerr.ClusterAuthorizationFailed.Code, true
	}
	return 0, false
}
