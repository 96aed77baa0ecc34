package server

// AlterConfigs, versions 0-2.
//
//	v0   a resource's whole set of dynamic configs, replaced at once
//	v1   no wire change (throttle applied after the response, KIP-219)
//	v2   flexible
//
// The API IncrementalAlterConfigs superseded (KIP-339, Kafka 2.3), still
// what sarama's ClusterAdmin.AlterConfig and older tools send. The configs
// given for a resource are all its dynamic configs: for a topic the set
// REPLACES every override, so a config not listed goes back to the
// broker's default, and an empty set removes them all. As in Kafka, a null
// value is the same as leaving the config out, and a config named twice
// takes its last value. The new set is validated as a whole against the
// broker's defaults (INVALID_CONFIG with the reason, nothing applied) and
// applied as IncrementalAlterConfigs applies its changes: persisted first,
// so it survives a restart.
//
// A resource given twice in one request is refused (INVALID_REQUEST,
// answered once), as Kafka does. Broker resources are refused as
// IncrementalAlterConfigs refuses them, since broker settings are static,
// but for a cluster broker's replication throttle rates
// (cluster_throttle.go): a set of only those replaces the resource's
// dynamic configs, and an empty set drops them. On a single broker an
// empty set asks to drop dynamic configs, of which there are none, and
// passes. Other resource types (broker loggers) are
// INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(c *conn, h *reqHeader, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	key := func(i int) configResource {
		return configResource{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
	}
	eachConfigResource(len(req.Resources), key, func(i int, dup bool) {
		rr := &req.Resources[i]
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var first *string
		if len(rr.Configs) > 0 {
			first = &rr.Configs[0].Name
		}
		if code := c.authorizeConfigs(h.key, auth.OpAlterConfigs, rr.ResourceType, rr.ResourceName); code != 0 && !dup {
			sr.ErrorCode = code
		} else if code, msg, ok := s.replaceThrottleRates(rr, dup, req.ValidateOnly); ok {
			sr.ErrorCode, sr.ErrorMessage = code, msg
		} else {
			sr.ErrorCode, sr.ErrorMessage = s.alterResource(rr.ResourceType, rr.ResourceName, dup, first, func() (int16, *string) {
				return s.replaceTopicConfigs(rr, req.ValidateOnly)
			})
		}
		s.metrics.errorCode(h.key, sr.ErrorCode)
		resp.Resources = append(resp.Resources, sr)
	})
	return resp, nil
}

// replaceTopicConfigs makes a topic resource's configs the topic's whole
// set of overrides, or only checks them when validateOnly.
func (s *Server) replaceTopicConfigs(rr *kmsg.AlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	return s.alterTopicOverrides(rr.ResourceName, validateOnly, func(overrides map[string]string) (int16, *string) {
		clear(overrides)
		for _, rc := range rr.Configs {
			if rc.Value == nil {
				delete(overrides, rc.Name) // back to the default, whatever came before
				continue
			}
			if !knownTopicConfig(rc.Name) {
				return unknownTopicConfig(rc.Name)
			}
			overrides[rc.Name] = *rc.Value
		}
		return 0, nil
	})
}
