package server

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleFunc answers one decoded request. A nil response sends nothing
// (acks=0 produce); an error closes the connection.
type handleFunc func(c *conn, h *reqHeader, req kmsg.Request) (kmsg.Response, error)

// apiSpec is one Kafka API this broker serves and the versions it serves.
type apiSpec struct {
	key      int16
	name     string
	min, max int16
	handle   handleFunc
}

// maxAPIKey bounds the table; kmsg knows fewer keys than this.
const maxAPIKey = 128

// apis holds every API the broker serves, filled by register calls in each
// API's file. ApiVersions advertises exactly this table.
var apis [maxAPIKey]*apiSpec

// register adds an API; each NN_name.go file registers its own in init.
func register[Req kmsg.Request](key int16, min, max int16, f func(c *conn, h *reqHeader, req Req) (kmsg.Response, error)) {
	if key < 0 || key >= maxAPIKey || apis[key] != nil {
		panic(fmt.Sprintf("server: bad or duplicate API registration %d", key))
	}
	if kr := kmsg.RequestForKey(key); kr == nil || kr.MaxVersion() < max {
		panic(fmt.Sprintf("server: kmsg cannot encode API %d v%d", key, max))
	}
	apis[key] = &apiSpec{
		key:  key,
		name: kmsg.NameForKey(key),
		min:  min,
		max:  max,
		handle: func(c *conn, h *reqHeader, req kmsg.Request) (kmsg.Response, error) {
			return f(c, h, req.(Req))
		},
	}
}

func lookupAPI(key int16) *apiSpec {
	if key < 0 || key >= maxAPIKey {
		return nil
	}
	return apis[key]
}

// registeredAPIs lists the table sorted by key.
func registeredAPIs() []*apiSpec {
	var out []*apiSpec
	for _, a := range apis {
		if a != nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
