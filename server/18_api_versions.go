package server

// ApiVersions, versions 0-4.
//
//	v0-v2  the list of API keys and version ranges (v1 adds throttle)
//	v3     flexible; the client sends its software name and version
//	v4     same as v3; signals the client handles UNSUPPORTED_VERSION with
//	       the ranges filled in (KIP-511)
//
// v5 (KIP-1242) makes the broker check a ClusterID/NodeID the client
// remembers; it is not advertised. An ApiVersions request of a version above
// 4 is answered in v0 with UNSUPPORTED_VERSION and the ranges, as Kafka
// does, so the client retries with one this broker knows.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

func init() { register(apiVersionsKey, 0, 4, handleAPIVersions) }

func handleAPIVersions(c *conn, h *reqHeader, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiKeys()
	return resp, nil
}

func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range registeredAPIs() {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key, MinVersion: a.min, MaxVersion: a.max})
	}
	return keys
}

// unsupportedAPIVersions is the v0 answer to an ApiVersions request of a
// version this broker does not know.
func unsupportedAPIVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeys()
	return resp
}
