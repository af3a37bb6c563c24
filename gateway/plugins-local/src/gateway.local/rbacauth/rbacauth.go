// Package rbacauth is the gateway's access decision: a Traefik middleware (a local plugin,
// interpreted by Traefik's Yaegi) that takes the place of forwardAuth in front of every service.
//
// Like forwardAuth it asks rbac's /authorize about each request, sending the same headers
// (the configured request headers plus X-Forwarded-Method, -Proto, -Host, -Uri and -For, with
// client-sent X-Forwarded-* ignored); on a 200 it copies the configured identity headers of the
// answer onto the request (deleting those the answer lacks) and forwards it; a 4xx, and rbac's
// own 503, reach the client unchanged (status, headers, body). Stricter than forwardAuth, which
// lets any 2xx through and passes any other status on: here another 2xx, a 3xx or another 5xx
// is no decision (503 below).
//
// What it adds:
//   - its own keep-alive pool to rbac (forwardAuth keeps Go's two idle connections per host,
//     so at 16 concurrent requests about a quarter of its calls open a new TCP connection);
//   - a cache of allows: the answer to (Authorization, method, host, URI) is reused for
//     cacheMilliseconds (and never past the token's `exp`), so the revocation bound becomes
//     rbac's own propagation plus this; denials are never cached; the cache is bounded;
//   - fail closed with a reason: rbac unreachable, timing out or answering something that is
//     not a decision is a 503 application/problem+json `decision_unavailable` with Retry-After,
//     where forwardAuth answers a bare 500. Nothing is forwarded.
package rbacauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProblemTypePrefix is the `type` prefix of every problem of the platform (common.errors).
const ProblemTypePrefix = "tag:async-fastapi-multidb,2026:problem:"

// Config is the middleware's dynamic configuration (routes.yml, `plugin: {rbacauth: ...}`).
type Config struct {
	// Address of rbac's decision endpoint, e.g. http://rbac:8000/authorize.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Request headers copied to the decision request (forwardAuth's authRequestHeaders).
	AuthRequestHeaders []string `json:"authRequestHeaders,omitempty" yaml:"authRequestHeaders,omitempty"`
	// Headers of an allow copied onto the forwarded request (forwardAuth's authResponseHeaders).
	AuthResponseHeaders []string `json:"authResponseHeaders,omitempty" yaml:"authResponseHeaders,omitempty"`
	// How long an allow is reused; 0 turns the cache off.
	CacheMilliseconds int `json:"cacheMilliseconds,omitempty" yaml:"cacheMilliseconds,omitempty"`
	// At most this many remembered allows; the cache starts over when full.
	CacheEntries int `json:"cacheEntries,omitempty" yaml:"cacheEntries,omitempty"`
	// A decision that takes longer is a 503.
	TimeoutMilliseconds int `json:"timeoutMilliseconds,omitempty" yaml:"timeoutMilliseconds,omitempty"`
	// Idle keep-alive connections kept to rbac.
	MaxIdleConns int `json:"maxIdleConns,omitempty" yaml:"maxIdleConns,omitempty"`
	// Answers of rbac longer than this are not decisions (503).
	MaxResponseBodySize int `json:"maxResponseBodySize,omitempty" yaml:"maxResponseBodySize,omitempty"`
	// Retry-After of the 503 when rbac cannot answer (common.outages: 5 s).
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty" yaml:"retryAfterSeconds,omitempty"`
}

// CreateConfig gives the defaults; routes.yml sets the rest.
func CreateConfig() *Config {
	return &Config{
		AuthRequestHeaders:  []string{"Authorization", "User-Agent", "X-Request-Id"},
		AuthResponseHeaders: []string{"X-User-Id", "X-User-Name", "X-User-Admin", "X-Session-Id"},
		CacheMilliseconds:   250,
		CacheEntries:        10000,
		TimeoutMilliseconds: 5000,
		MaxIdleConns:        64,
		MaxResponseBodySize: 16384,
		RetryAfterSeconds:   5,
	}
}

// Authorize is the middleware.
type Authorize struct {
	next            http.Handler
	name            string
	address         string
	requestHeaders  []string
	responseHeaders []string
	ttl             time.Duration
	maxEntries      int
	maxBody         int64
	retryAfter      string
	client          *http.Client

	mu sync.RWMutex
	// Guarded by mu: allows by request key (identity headers to set), emptied every ttl by
	// expire, which runs while the cache holds anything.
	cache   map[string]http.Header
	ticking bool
	logged  time.Time
}

// New builds the middleware from its configuration.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	if config.Address == "" {
		return nil, errors.New("rbacauth: address is required")
	}
	timeout := time.Duration(config.TimeoutMilliseconds) * time.Millisecond
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	idle := config.MaxIdleConns
	if idle <= 0 {
		idle = 64
	}
	maxBody := int64(config.MaxResponseBodySize)
	if maxBody <= 0 {
		maxBody = 16384
	}
	retry := config.RetryAfterSeconds
	if retry <= 0 {
		retry = 5
	}
	maxEntries := config.CacheEntries
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	transport := &http.Transport{
		// No DialContext of our own: Yaegi cannot pass a method value of a compiled type as a
		// function field. The client's Timeout bounds the dial with everything else.
		Proxy:                 nil,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
	}
	return &Authorize{
		next:            next,
		name:            name,
		address:         config.Address,
		requestHeaders:  canonical(config.AuthRequestHeaders),
		responseHeaders: canonical(config.AuthResponseHeaders),
		ttl:             time.Duration(config.CacheMilliseconds) * time.Millisecond,
		maxEntries:      maxEntries,
		maxBody:         maxBody,
		retryAfter:      strconv.Itoa(retry),
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect is not a decision: it reaches the client as a denial would.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache: make(map[string]http.Header),
	}, nil
}

func canonical(names []string) []string {
	out := make([]string, 0, len(names))
	for _, name := range names {
		out = append(out, http.CanonicalHeaderKey(name))
	}
	return out
}

// ServeHTTP is the hot path: a remembered allow sets its identity headers and forwards.
//
// Kept this small on purpose. Yaegi allocates every value slot of a function's frame each time
// compiled code calls it, and each call into a compiled function or method goes through
// reflection, so every statement here costs allocations on every request; the rest is in
// decide. The key is the request as the client sent it: rbac's inputs (method, the URI
// forwarded as X-Forwarded-Uri, which Traefik derives from RequestURI alone, and the one
// Authorization value), plus the host. Two Authorization values (rbac refuses them) never
// match a remembered key.
func (a *Authorize) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	key := req.Method + "\n" + req.Host + "\n" + req.RequestURI
	auth := req.Header["Authorization"]
	if len(auth) == 1 {
		key = key + "\n" + auth[0]
	} else if len(auth) > 1 {
		key = ""
	}
	a.mu.RLock()
	identity, found := a.cache[key]
	a.mu.RUnlock()
	if found {
		for name, values := range identity {
			req.Header[name] = values
		}
		a.next.ServeHTTP(rw, req)
		return
	}
	a.decide(rw, req, key)
}

// decide asks rbac, and remembers an allow.
func (a *Authorize) decide(rw http.ResponseWriter, req *http.Request, key string) {
	decision, err := a.ask(req)
	if err != nil {
		a.unavailable(rw, req, err)
		return
	}
	defer decision.Body.Close()
	body, err := io.ReadAll(io.LimitReader(decision.Body, a.maxBody+1))
	if err != nil {
		a.unavailable(rw, req, err)
		return
	}
	if int64(len(body)) > a.maxBody {
		a.unavailable(rw, req, errors.New("the answer is larger than maxResponseBodySize"))
		return
	}

	status := decision.StatusCode
	switch {
	case status == http.StatusOK:
		// Every configured header, nil when the answer lacks it: a hit then sets exactly what
		// this answer did (a nil value is no header on the wire, as forwardAuth's delete).
		identity := make(http.Header, len(a.responseHeaders))
		for _, name := range a.responseHeaders {
			delete(req.Header, name)
			values := decision.Header[name]
			identity[name] = values
			if len(values) > 0 {
				req.Header[name] = append([]string(nil), values...)
			}
		}
		// rbac marks an allow that must not be reused (a socket's single-use ticket) with
		// Cache-Control: no-store; such an answer holds for this request only.
		if key != "" && !strings.Contains(strings.ToLower(decision.Header.Get("Cache-Control")), "no-store") {
			a.remember(key, req, identity)
		}
		a.next.ServeHTTP(rw, req)
	case (status >= 400 && status < 500) || (status == http.StatusServiceUnavailable &&
		strings.HasPrefix(decision.Header.Get("Content-Type"), "application/problem+json")):
		// rbac's own denial (401, 403, 405) or its own 503 problem: passed through unchanged.
		// A bare 503 (a balancer in front of rbac with no instance up) is not rbac's answer.
		header := rw.Header()
		for name, values := range decision.Header {
			if hopByHop[name] {
				continue
			}
			header[name] = append([]string(nil), values...)
		}
		header.Set("Content-Length", strconv.Itoa(len(body)))
		rw.WriteHeader(status)
		_, _ = rw.Write(body)
	default:
		a.unavailable(rw, req, fmt.Errorf("rbac answered %d, not a decision", status))
	}
}

// remember an allow for at most ttl, never past the token's expiry.
func (a *Authorize) remember(key string, req *http.Request, identity http.Header) {
	if a.ttl <= 0 {
		return
	}
	if auth := req.Header["Authorization"]; len(auth) == 1 {
		exp, ok := tokenExpiry(auth[0])
		if !ok || exp.Before(time.Now().Add(a.ttl)) {
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= a.maxEntries {
		a.cache = make(map[string]http.Header)
	}
	a.cache[key] = identity
	if !a.ticking {
		a.ticking = true
		go a.expire()
	}
}

// expire empties the cache every ttl, so nothing stays longer than that; it stops once a
// period passed with nothing remembered (remember starts it again), so an instance that
// Traefik replaced on a configuration change leaves no goroutine behind.
func (a *Authorize) expire() {
	for {
		time.Sleep(a.ttl)
		a.mu.Lock()
		if len(a.cache) == 0 {
			a.ticking = false
			a.mu.Unlock()
			return
		}
		a.cache = make(map[string]http.Header)
		a.mu.Unlock()
	}
}

// tokenExpiry: the `exp` of a bearer JWT; false for anything else.
func tokenExpiry(authorization string) (time.Time, bool) {
	scheme, token, found := strings.Cut(authorization, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return time.Time{}, false
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims map[string]interface{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, false
	}
	exp, ok := claims["exp"].(float64)
	if !ok || exp <= 0 || exp > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(exp), 0), true
}

// ask sends rbac what forwardAuth would (trustForwardHeader false).
func (a *Authorize) ask(req *http.Request) (*http.Response, error) {
	outgoing, err := http.NewRequestWithContext(req.Context(), http.MethodGet, a.address, nil)
	if err != nil {
		return nil, err
	}
	for _, name := range a.requestHeaders {
		if values, ok := req.Header[name]; ok {
			outgoing.Header[name] = append([]string(nil), values...)
		}
	}
	if ip, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		outgoing.Header.Set("X-Forwarded-For", ip)
	}
	outgoing.Header.Set("X-Forwarded-Method", req.Method)
	if req.TLS != nil {
		outgoing.Header.Set("X-Forwarded-Proto", "https")
	} else {
		outgoing.Header.Set("X-Forwarded-Proto", "http")
	}
	if req.Host != "" {
		outgoing.Header.Set("X-Forwarded-Host", req.Host)
	}
	if uri := req.URL.RequestURI(); uri != "" {
		outgoing.Header.Set("X-Forwarded-Uri", uri)
	}
	return a.client.Do(outgoing)
}

// unavailable: no decision could be had, so the answer is no, with a reason and a retry time
// (the problem shape of common.errors; Retry-After as common.outages gives it).
func (a *Authorize) unavailable(rw http.ResponseWriter, req *http.Request, cause error) {
	now := time.Now()
	a.mu.Lock()
	quiet := now.Sub(a.logged) < time.Second
	if !quiet {
		a.logged = now
	}
	a.mu.Unlock()
	if !quiet {
		// At most a line a second: an outage under load would otherwise log every request.
		fmt.Fprintf(os.Stderr, "rbacauth %s: no decision (503 decision_unavailable): %v\n", a.name, cause)
	}
	body, _ := json.Marshal(map[string]interface{}{
		"type":     ProblemTypePrefix + "decision_unavailable",
		"title":    "Service Unavailable",
		"status":   http.StatusServiceUnavailable,
		"detail":   "the access decision cannot be made right now; retry later",
		"instance": req.URL.Path,
		"code":     "decision_unavailable",
	})
	header := rw.Header()
	header.Set("Content-Type", "application/problem+json")
	header.Set("Retry-After", a.retryAfter)
	header.Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(http.StatusServiceUnavailable)
	_, _ = rw.Write(body)
}

var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}
