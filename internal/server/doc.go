// Package server is the HTTP plumbing shared by the gateway's listeners:
// request IDs and request-scoped loggers, access logs, trusted-proxy aware
// client addresses and external URLs, request body limits, health and
// readiness endpoints, Prometheus metrics on a private registry, JSON
// errors, http.Server timeouts and graceful shutdown.
//
// A typical stack, outermost first:
//
//	h := server.RequestID(proxies, logger)(
//		server.AccessLog(logger)(
//			metrics.Instrument(mux)))
//
// # Security model
//
// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto, and an incoming
// X-Request-ID, are honoured only when the TCP peer (r.RemoteAddr) is inside
// one of the configured trusted proxy CIDRs; from anyone else they are
// ignored, so a client cannot choose its own address, the host the gateway
// believes it was reached at, or a log-confusing request ID. Forwarded values
// are syntax-checked and fall back to the direct connection's values when
// malformed. The client address is the rightmost X-Forwarded-For entry that
// is not a trusted proxy, so entries a client prepends are never used.
// Access logs record the method, the path without its query, the status,
// the duration and the request ID, and never headers, cookies, queries or
// bodies. /readyz answers only "ok" or "unavailable"; the reason goes to the
// log. Metrics are labelled with the route pattern that matched (a value
// set by the ServeMux, capped in number) and the status class, never with
// raw request data. Servers get read, write, idle and header timeouts and a
// header size cap; MaxBody caps request bodies. TLS is expected to end at
// the load balancer: Listen serves plain HTTP.
package server
