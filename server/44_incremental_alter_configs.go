package server

// IncrementalAlterConfigs, versions 0-1.
//
//	v0   SET, DELETE, APPEND and SUBTRACT per config (KIP-339)
//	v1   flexible
//
// Topic configs are changed through log.Manager.AlterTopicConfig, which
// persists the topic's overrides before applying them to its partitions,
// so a change survives a restart. SET overrides a config, DELETE reverts it
// to the broker's default, and APPEND and SUBTRACT edit list configs
// (cleanup.policy) starting from the current value, as Kafka does; on other
// configs they are INVALID_CONFIG, Kafka's code. Every change of a resource
// is validated together, and either all apply or none. AlterConfigs
// (33_alter_configs.go) goes through the same path, alterTopicOverrides,
// with a set that replaces the overrides instead of editing them.
//
// A resource given twice in one request is refused (INVALID_REQUEST,
// answered once), as Kafka does.
//
// Broker settings are static (server.properties and flags, read at start),
// so broker resources are refused with INVALID_REQUEST and a message saying
// so, but for a cluster broker's replication throttle rates, which its own
// resource or the cluster-wide default ("") sets and deletes, stored in
// the cluster metadata (cluster_throttle.go); broker loggers are not
// configurable either.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

// topicConfigMu serialises the read-modify-write of a topic's overrides, so
// two concurrent alters of one topic cannot lose one's change. It is
// package-level because alters are rare and the Manager keeps no version
// to compare against.
var topicConfigMu sync.Mutex

type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

var msgDuplicateResource = adminMsg("Each resource must appear at most once in a request.")

// alterResource answers one resource of AlterConfigs or
// IncrementalAlterConfigs: a repeat, a topic (alterTopic), the broker (its
// settings are static; firstConfig names one in the refusal) or a type
// that cannot be altered.
func (s *Server) alterResource(typ kmsg.ConfigResourceType, name string, dup bool, firstConfig *string, alterTopic func() (int16, *string)) (int16, *string) {
	switch {
	case dup:
		return kerr.InvalidRequest.Code, msgDuplicateResource
	case typ == kmsg.ConfigResourceTypeTopic:
		return alterTopic()
	case typ == kmsg.ConfigResourceTypeBroker:
		return s.alterBrokerConfigs(name, firstConfig)
	}
	return unsupportedAlterResource(typ)
}

func handleIncrementalAlterConfigs(c *conn, h *reqHeader, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	key := func(i int) configResource {
		return configResource{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
	}
	eachConfigResource(len(req.Resources), key, func(i int, dup bool) {
		rr := &req.Resources[i]
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var first *string
		if len(rr.Configs) > 0 {
			first = &rr.Configs[0].Name
		}
		if code := c.authorizeConfigs(h.key, auth.OpAlterConfigs, rr.ResourceType, rr.ResourceName); code != 0 && !dup {
			sr.ErrorCode = code
		} else if code, msg, ok := s.alterThrottleRates(rr, dup, req.ValidateOnly); ok {
			sr.ErrorCode, sr.ErrorMessage = code, msg
		} else {
			sr.ErrorCode, sr.ErrorMessage = s.alterResource(rr.ResourceType, rr.ResourceName, dup, first, func() (int16, *string) {
				return s.alterTopicConfigs(rr, req.ValidateOnly)
			})
		}
		s.metrics.errorCode(h.key, sr.ErrorCode)
		resp.Resources = append(resp.Resources, sr)
	})
	return resp, nil
}

// eachConfigResource calls answer once for each distinct resource of a
// request of n, in the order each first appears; dup says the resource
// appears more than once, which Kafka refuses (answered once).
func eachConfigResource(n int, key func(i int) configResource, answer func(i int, dup bool)) {
	count := make(map[configResource]int, n)
	for i := range n {
		count[key(i)]++
	}
	answered := make(map[configResource]bool, n)
	for i := range n {
		k := key(i)
		if answered[k] {
			continue // a duplicate, answered once as Kafka does
		}
		answered[k] = true
		answer(i, count[k] > 1)
	}
}

// alterBrokerConfigs answers a change to a broker resource; first is the
// first config it names, nil when it names none. Broker settings are
// static, so a change is refused; an empty one changes nothing and passes.
func (s *Server) alterBrokerConfigs(resource string, first *string) (int16, *string) {
	if code, msg := s.checkBrokerResource(resource); code != 0 {
		return code, msg
	}
	if first != nil {
		return kerr.InvalidRequest.Code, adminMsg("Cannot update broker configs dynamically: broker settings are static here; set %s in the broker's properties file (or --set) and restart it.", *first)
	}
	return 0, nil
}

func unsupportedAlterResource(typ kmsg.ConfigResourceType) (int16, *string) {
	return kerr.InvalidRequest.Code, adminMsg("Unsupported resource type %v: only TOPIC configs can be altered.", typ)
}

// alterTopicConfigs applies one topic resource's changes, or only checks
// them when validateOnly.
func (s *Server) alterTopicConfigs(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	return s.alterTopicOverrides(rr.ResourceName, validateOnly, func(overrides map[string]string) (int16, *string) {
		var defaults map[string]string // read on the first APPEND or SUBTRACT
		seen := make(map[string]bool, len(rr.Configs))
		for _, rc := range rr.Configs {
			if seen[rc.Name] {
				return kerr.InvalidRequest.Code, adminMsg("Duplicate config name %s: each config may be altered once per resource.", rc.Name)
			}
			seen[rc.Name] = true
			if rc.Op != kmsg.IncrementalAlterConfigOpDelete {
				if !knownTopicConfig(rc.Name) {
					return unknownTopicConfig(rc.Name)
				}
				if rc.Value == nil {
					return kerr.InvalidRequest.Code, adminMsg("Null value not supported for %v of config %s.", rc.Op, rc.Name)
				}
			}
			switch rc.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				overrides[rc.Name] = *rc.Value
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(overrides, rc.Name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				if !listConfig(rc.Name) {
					return kerr.InvalidConfig.Code, adminMsg("Can't %v to config %s because its type is not LIST.", rc.Op, rc.Name)
				}
				cur, ok := overrides[rc.Name]
				if !ok {
					if defaults == nil {
						defaults = s.mgr.Defaults().Map()
					}
					cur = defaults[rc.Name]
				}
				overrides[rc.Name] = editList(cur, *rc.Value, rc.Op == kmsg.IncrementalAlterConfigOpAppend)
			default:
				return kerr.InvalidRequest.Code, adminMsg("Unknown alter config operation %d for config %s.", int8(rc.Op), rc.Name)
			}
		}
		return 0, nil
	})
}

// alterTopicOverrides changes a topic's overrides with edit, which gets a
// copy of the current ones to change in place. The result is validated as
// a whole against the broker's defaults, so either every change applies or
// none does, and with validateOnly nothing applies. Both alter APIs come
// through here, so they refuse and persist alike.
func (s *Server) alterTopicOverrides(name string, validateOnly bool, edit func(overrides map[string]string) (int16, *string)) (int16, *string) {
	if err := tlog.ValidateTopicName(name); err != nil {
		return kerr.InvalidTopicException.Code, errorMessage(err)
	}
	if s.node != nil {
		return s.node.alterTopicConfigs(name, validateOnly, edit)
	}
	topicConfigMu.Lock()
	defer topicConfigMu.Unlock()
	t, ok := s.topic(name)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, adminMsg("Topic %q does not exist.", name)
	}
	overrides := make(map[string]string, len(t.Overrides))
	maps.Copy(overrides, t.Overrides)
	if code, msg := edit(overrides); code != 0 {
		return code, msg
	}
	if _, err := s.mgr.Defaults().With(overrides); err != nil {
		return errorCode(err), errorMessage(err)
	}
	if validateOnly || maps.Equal(overrides, t.Overrides) {
		return 0, nil
	}
	if len(overrides) == 0 {
		overrides = nil
	}
	if err := s.mgr.AlterTopicConfig(name, overrides); err != nil {
		return errorCode(err), errorMessage(fmt.Errorf("server: alter configs of topic %q: %w", name, err))
	}
	s.logger.Info("server: altered topic configs", "topic", name, "overrides", overrides)
	return 0, nil
}

// knownTopicConfig reports the topic config names this broker serves.
func knownTopicConfig(name string) bool {
	return slices.Contains(tlog.ConfigNames(), name)
}

func unknownTopicConfig(name string) (int16, *string) {
	return kerr.InvalidConfig.Code, adminMsg("Unknown topic config name: %s.", name)
}

// editList appends the items of a comma-separated list to cur, skipping
// those already there, or subtracts them from it.
func editList(cur, items string, appendItems bool) string {
	var list []string
	have := make(map[string]bool)
	for _, it := range strings.Split(cur, ",") {
		if it = strings.TrimSpace(it); it != "" {
			list = append(list, it)
			have[it] = true
		}
	}
	edit := make(map[string]bool)
	for _, it := range strings.Split(items, ",") {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		edit[it] = true
		if appendItems && !have[it] {
			list = append(list, it)
			have[it] = true
		}
	}
	if !appendItems {
		kept := list[:0]
		for _, it := range list {
			if !edit[it] {
				kept = append(kept, it)
			}
		}
		list = kept
	}
	return strings.Join(list, ",")
}
