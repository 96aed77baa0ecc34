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
// is validated together, and either all apply or none.
//
// A resource given twice in one request is refused (INVALID_REQUEST,
// answered once), as Kafka does.
//
// Broker settings are static (server.properties and flags, read at start),
// so broker resources are refused with INVALID_REQUEST and a message saying
// so; broker loggers are not configurable either.

import (
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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

func handleIncrementalAlterConfigs(c *conn, h *reqHeader, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	count := make(map[configResource]int, len(req.Resources))
	for i := range req.Resources {
		count[configResource{req.Resources[i].ResourceType, req.Resources[i].ResourceName}]++
	}
	answered := make(map[configResource]bool, len(req.Resources))
	for i := range req.Resources {
		rr := &req.Resources[i]
		k := configResource{rr.ResourceType, rr.ResourceName}
		if answered[k] {
			continue // a duplicate, answered once as Kafka does
		}
		answered[k] = true
		resp.Resources = append(resp.Resources, kmsg.NewIncrementalAlterConfigsResponseResource())
		sr := &resp.Resources[len(resp.Resources)-1]
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		switch {
		case count[k] > 1:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, msgDuplicateResource
		case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
			sr.ErrorCode, sr.ErrorMessage = s.alterTopicConfigs(rr, req.ValidateOnly)
		case rr.ResourceType == kmsg.ConfigResourceTypeBroker:
			sr.ErrorCode, sr.ErrorMessage = checkBrokerResource(rr.ResourceName)
			if sr.ErrorCode == 0 && len(rr.Configs) > 0 {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = adminMsg("Cannot update broker configs dynamically: broker settings are static here; set %s in the broker's properties file (or --set) and restart it.", rr.Configs[0].Name)
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = adminMsg("Unsupported resource type %v: only TOPIC configs can be altered.", rr.ResourceType)
		}
		s.metrics.errorCode(h.key, sr.ErrorCode)
	}
	return resp, nil
}

// alterTopicConfigs applies one topic resource's changes, or only checks
// them when validateOnly.
func (s *Server) alterTopicConfigs(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	name := rr.ResourceName
	if err := tlog.ValidateTopicName(name); err != nil {
		return kerr.InvalidTopicException.Code, errorMessage(err)
	}
	topicConfigMu.Lock()
	defer topicConfigMu.Unlock()
	t, ok := s.topic(name)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, adminMsg("Topic %q does not exist.", name)
	}
	overrides := make(map[string]string, len(t.Overrides)+len(rr.Configs))
	for k, v := range t.Overrides {
		overrides[k] = v
	}
	known := make(map[string]bool)
	for _, n := range tlog.ConfigNames() {
		known[n] = true
	}
	defaults := s.mgr.Defaults().Map()
	seen := make(map[string]bool, len(rr.Configs))
	for _, rc := range rr.Configs {
		if seen[rc.Name] {
			return kerr.InvalidRequest.Code, adminMsg("Duplicate config name %s: each config may be altered once per resource.", rc.Name)
		}
		seen[rc.Name] = true
		if rc.Op != kmsg.IncrementalAlterConfigOpDelete {
			if !known[rc.Name] {
				return kerr.InvalidConfig.Code, adminMsg("Unknown topic config name: %s.", rc.Name)
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
				cur = defaults[rc.Name]
			}
			overrides[rc.Name] = editList(cur, *rc.Value, rc.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return kerr.InvalidRequest.Code, adminMsg("Unknown alter config operation %d for config %s.", int8(rc.Op), rc.Name)
		}
	}
	if _, err := s.mgr.Defaults().With(overrides); err != nil {
		return errorCode(err), errorMessage(err)
	}
	if validateOnly || len(rr.Configs) == 0 {
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
