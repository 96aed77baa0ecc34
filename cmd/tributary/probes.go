package main

// serve's HTTP listener (--metrics-listen): Prometheus /metrics and the
// two probes Kubernetes (and any supervisor) expects, kept apart as
// Kubernetes' own components keep them:
//
//   - /healthz, liveness: 200 "ok" while the process runs and answers
//     HTTP. It never depends on the cluster: a broker waiting for its
//     quorum, fenced, or recovering a large data dir is alive, and
//     restarting it would not help.
//   - /readyz, readiness: 200 once the broker has caught up and should be
//     sent clients (server.Readiness: its listeners serve, and in a
//     cluster it is registered under its current broker epoch, its
//     metadata has reached that revision and its partitions are
//     reconciled), else 503; the body lists each check, "[+]name ..." or
//     "[-]name why not", as kube-apiserver's /readyz does.
//
// The listener opens before the data dir, so that both probes answer
// while the data dir recovers and while a cluster node waits for its
// quorum: /healthz says alive, /readyz says what it waits for, /metrics
// answers 503 until the broker's registry exists.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tributary-io/tributary/server"
)

// probeShutdownTimeout bounds how long the HTTP listener waits for
// scrapes in flight when serve exits.
const probeShutdownTimeout = 5 * time.Second

// probes serves /metrics, /healthz and /readyz for the server srv
// points at once it is built.
type probes struct {
	srv     *atomic.Pointer[server.Server]
	logger  *slog.Logger
	stage   atomic.Pointer[string] // what serve is doing before the server exists
	metrics atomic.Pointer[http.Handler]
	http    *http.Server
	addr    string
}

// startProbes listens on addr and serves the probes in the background.
func startProbes(addr string, srv *atomic.Pointer[server.Server], logger *slog.Logger) (*probes, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: metrics listener: %w", err)
	}
	p := &probes{srv: srv, logger: logger, addr: ln.Addr().String()}
	p.setStage("starting")
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", p.serveMetrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", p.serveReadyz)
	p.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go p.http.Serve(ln)
	return p, nil
}

// setStage is what /readyz says before the server exists.
func (p *probes) setStage(s string) {
	if p != nil {
		p.stage.Store(&s)
	}
}

func (p *probes) serveMetrics(w http.ResponseWriter, r *http.Request) {
	h := p.metrics.Load()
	if h == nil {
		srv := p.srv.Load()
		if srv == nil {
			http.Error(w, "tributary: starting: "+*p.stage.Load(), http.StatusServiceUnavailable)
			return
		}
		var nh http.Handler = promhttp.HandlerFor(srv.Registry(), promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(p.logger.Handler(), slog.LevelWarn)})
		p.metrics.CompareAndSwap(nil, &nh)
		h = p.metrics.Load()
	}
	(*h).ServeHTTP(w, r)
}

func (p *probes) serveReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	srv := p.srv.Load()
	if srv == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "[-]%s %s\nnot ready\n", server.ReadyListeners, *p.stage.Load())
		return
	}
	rd := srv.Readiness()
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprint(w, rd.String())
}

// close stops the listener, letting scrapes in flight finish (bounded).
func (p *probes) close() {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeShutdownTimeout)
	defer cancel()
	p.http.Shutdown(ctx)
}
