package server

// DescribeCluster, versions 0-2 (flexible from v0).
//
//	v0   brokers, cluster id, controller id (KIP-700)
//	v1   EndpointType: 1 asks for brokers, 2 for controllers (KIP-919)
//	v2   IncludeFencedBrokers; IsFenced per broker (KIP-1073)
//
// The cluster is this broker, node 0, which is also its controller. Asking
// for controller endpoints (EndpointType 2, which kafka-metadata-quorum
// --bootstrap-controller sends) gets UNSUPPORTED_ENDPOINT_TYPE, the answer a
// Kafka broker listener gives: this broker has no separate controller
// listener, and its Kafka listener is the broker endpoint. The broker is
// never fenced, so IncludeFencedBrokers changes nothing. As in Kafka,
// anyone may describe the cluster; the cluster's authorized operations
// (KIP-430), when asked for, are those the ACLs allow the principal (all of
// them without an authorizer, 0 without Describe on the cluster).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endpointTypeBrokers is DescribeCluster's EndpointType for broker
// listeners (2 is controllers).
const endpointTypeBrokers = 1

func init() { register(60, 0, 2, handleDescribeCluster) }

func handleDescribeCluster(c *conn, h *reqHeader, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = adminMsg("Endpoint type %d is not supported: this broker serves only broker endpoints (type %d).", req.EndpointType, endpointTypeBrokers)
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	if s.node != nil {
		c.clusterDescribe(resp)
	} else {
		host, port := c.ln.advHost, c.ln.advPort
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port = NodeID, host, port
		resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
		resp.ClusterID = s.cfg.ClusterID
		resp.ControllerID = NodeID
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = c.clusterAuthorizedOperations()
	}
	return resp, nil
}
